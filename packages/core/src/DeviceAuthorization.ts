/**
 * The device authorization grant (RFC 8628), for devices and terminals without a browser at hand:
 * `start` asks the provider for a device code and a user code, the user enters the user code at the
 * verification URI on another device, and `poll` asks the token endpoint until the user decides.
 *
 * Polling follows RFC 8628 §3.2 and §3.5: the interval is five seconds when the server names none
 * and never below one second, `authorization_pending` keeps it, `slow_down` adds five seconds for
 * good, a transport failure doubles it, any other error stops, and nothing is sent after
 * `expires_in`. Every wait goes through Effect's `Clock`, so `TestClock` drives it.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Grant from "./Grant.js"
import type { IdTokenError } from "./IdToken.js"
import { postForm } from "./internal/endpoint.js"
import { checkEndpoint } from "./internal/http.js"
import type { ScopeError } from "./OAuthError.js"
import { AuthorizationError, ConfigurationError, isTransient, TokenRequestError } from "./OAuthError.js"
import { validate } from "./ScopeRules.js"
import type { ScopeSet } from "./Scopes.js"
import { empty, format } from "./Scopes.js"
import type { Token } from "./Token.js"
import type { TokenEndpoint } from "./TokenEndpoint.js"

/**
 * A device authorization in progress: what to show the user, and what to poll with.
 *
 * @since 0.1.0
 * @category models
 */
export interface Started {
  /** The code the client polls with; never shown. */
  readonly deviceCode: Redacted.Redacted<string>
  /** The code the user types at `verificationUri`. */
  readonly userCode: string
  readonly verificationUri: string
  /** The verification URI with the user code in it, when the provider sends one (for a QR code). */
  readonly verificationUriComplete: Option.Option<string>
  /** When the device code expires (epoch ms, by the `Clock`). */
  readonly expiresAt: number
  /** The wait between two polls: the server's `interval`, or 5 seconds; never below 1 second. */
  readonly interval: Duration.Duration
  readonly scopes: ScopeSet<string>
}

/**
 * RFC 8628 §3.2's device authorization response. `verification_url` is Google's older spelling.
 *
 * @since 0.1.0
 * @category schemas
 */
export const DeviceAuthorizationResponse = Schema.Struct({
  device_code: Schema.NonEmptyString,
  user_code: Schema.NonEmptyString,
  verification_uri: Schema.optional(Schema.NonEmptyString),
  verification_url: Schema.optional(Schema.NonEmptyString),
  verification_uri_complete: Schema.optional(Schema.NonEmptyString),
  expires_in: Schema.Number.pipe(Schema.positive(), Schema.finite()),
  interval: Schema.optional(Schema.Number.pipe(Schema.finite()))
})

const decodeResponse = Schema.decodeUnknownEither(DeviceAuthorizationResponse)

/** RFC 8628 §3.2: without an `interval`, clients wait five seconds. */
const defaultInterval = Duration.seconds(5)

// A server's 0 (or a hand-built `Started`) must not turn polling into a busy loop.
const minimumInterval = Duration.seconds(1)

const atLeastMinimum = (interval: Duration.Duration) => Duration.max(interval, minimumInterval)

/**
 * Asks the provider's device authorization endpoint for a device code. The scopes are checked
 * against the provider's rules for the device-code grant first; a provider without the endpoint is
 * a `ConfigurationError`. A verification URI that is not `https:` (or `http:` on loopback, or
 * with the provider's `allowInsecureHttp`) is a `TokenRequestError` (`InvalidResponse`) naming the field. The
 * user code and URIs are the server's text as sent: strip control characters before printing
 * them (`DevicePrompt` in the Node package does).
 *
 * @since 0.1.0
 * @category constructors
 */
export const start = (
  endpoint: TokenEndpoint,
  options: { readonly scopes?: ScopeSet<string> | undefined } = {}
): Effect.Effect<Started, TokenRequestError | ConfigurationError | ScopeError> =>
  Effect.gen(function*() {
    const { provider } = endpoint
    if (Option.isNone(provider.deviceAuthorizationEndpoint)) {
      return yield* new ConfigurationError({
        reason: "MissingEndpoint",
        detail: `${provider.name} has no device authorization endpoint: use another grant, or set ` +
          "deviceAuthorizationEndpoint"
      })
    }
    const scopes = yield* validate(provider.scopeRules, "DeviceCode", options.scopes ?? empty)
    const body = yield* postForm(
      endpoint,
      provider.deviceAuthorizationEndpoint.value,
      scopes.size > 0 ? [["scope", format(scopes)]] : []
    )
    const decoded = decodeResponse(body)
    if (decoded._tag === "Left") {
      return yield* new TokenRequestError({
        reason: "InvalidResponse",
        kind: "InvalidField",
        status: 200,
        detail: "the device authorization response lacks device_code, user_code, verification_uri or expires_in"
      })
    }
    const response = decoded.right
    const verificationUri = response.verification_uri ?? response.verification_url
    if (verificationUri === undefined) {
      return yield* new TokenRequestError({
        reason: "InvalidResponse",
        kind: "InvalidField",
        status: 200,
        field: "verification_uri",
        detail: "the device authorization response has no verification URI to show the user"
      })
    }
    // The user is sent to these addresses to type a code that grants access: only over https.
    for (
      const [field, uri] of [
        ["verification_uri", verificationUri],
        ["verification_uri_complete", response.verification_uri_complete]
      ] as const
    ) {
      if (uri !== undefined && Either.isLeft(checkEndpoint(uri, provider.allowInsecureHttp))) {
        return yield* new TokenRequestError({
          reason: "InvalidResponse",
          kind: "InvalidField",
          status: 200,
          field,
          detail: "the verification URI is not https (http only on loopback, or with allowInsecureHttp): " +
            "refusing to send the user there"
        })
      }
    }
    const now = yield* Clock.currentTimeMillis
    return {
      deviceCode: Redacted.make(response.device_code),
      userCode: response.user_code,
      verificationUri,
      verificationUriComplete: Option.fromNullable(response.verification_uri_complete),
      expiresAt: now + response.expires_in * 1000,
      interval: response.interval === undefined ? defaultInterval : atLeastMinimum(Duration.seconds(response.interval)),
      scopes
    }
  })

const expired = () =>
  new AuthorizationError({
    reason: "Timeout",
    error: "expired_token",
    description: "the device code expired before the user approved it: start again"
  })

/**
 * Polls the token endpoint until the user approves (the token), denies (`AuthorizationError`
 * `Denied`), or the device code expires (`AuthorizationError` `Timeout`).
 *
 * @since 0.1.0
 * @category accessors
 */
export const poll = (
  endpoint: TokenEndpoint,
  started: Started
): Effect.Effect<Token, TokenRequestError | ConfigurationError | IdTokenError | AuthorizationError> => {
  const loop = (
    interval: Duration.Duration
  ): Effect.Effect<Token, TokenRequestError | ConfigurationError | IdTokenError | AuthorizationError> =>
    Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      if (now + Duration.toMillis(interval) >= started.expiresAt) {
        // No poll can be answered before the code expires: wait it out and say so.
        yield* Effect.sleep(Duration.millis(Math.max(0, started.expiresAt - now)))
        return yield* expired()
      }
      yield* Effect.sleep(interval)
      const outcome = yield* Effect.either(
        endpoint.request(Grant.DeviceCode(started.deviceCode), { requested: started.scopes })
      )
      if (outcome._tag === "Right") return outcome.right
      const error = outcome.left
      if (error instanceof TokenRequestError && error.reason === "ErrorResponse") {
        switch (error.error) {
          case "authorization_pending":
            return yield* loop(interval)
          case "slow_down":
            return yield* loop(Duration.sum(interval, Duration.seconds(5)))
          case "access_denied":
            return yield* new AuthorizationError({
              reason: "Denied",
              error: error.error,
              ...(error.description === undefined ? {} : { description: error.description })
            })
          case "expired_token":
            return yield* expired()
        }
        return yield* error
      }
      // RFC 8628 §3.5: a client that gets no answer polls less often.
      if (isTransient(error)) {
        return yield* loop(Duration.times(interval, 2))
      }
      return yield* error
    })
  return loop(atLeastMinimum(started.interval))
}

/**
 * The whole flow: `start`, hand the codes to `prompt` (show them to the user), then `poll`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const authorize = <E, R>(
  endpoint: TokenEndpoint,
  options: {
    readonly scopes?: ScopeSet<string> | undefined
    readonly prompt: (started: Started) => Effect.Effect<void, E, R>
  }
): Effect.Effect<
  Token,
  TokenRequestError | ConfigurationError | IdTokenError | AuthorizationError | ScopeError | E,
  R
> =>
  Effect.flatMap(
    start(endpoint, { scopes: options.scopes }),
    (started) => Effect.zipRight(options.prompt(started), poll(endpoint, started))
  )
