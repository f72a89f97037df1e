/**
 * The token endpoint, stateless: one grant in, a `Token` or a typed error out, over
 * `@effect/platform`'s `HttpClient`. It authenticates the client per the provider's method, never
 * follows redirects, caps the body at 1 MiB (decoded bytes, counted as they stream), times out each
 * attempt and the whole request, and retries what is transient (never a code exchange). Server text
 * kept in an error has the client's secrets replaced with `<redacted>`. Revocation (RFC 7009) shares
 * its client authentication.
 *
 * @since 0.1.0
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type { ClientConfig } from "./ClientConfig.js"
import type { Grant } from "./Grant.js"
import type { IdTokenError } from "./IdToken.js"
import type { WithReader } from "./internal/endpoint.js"
import { clientSecrets, post, ReaderId } from "./internal/endpoint.js"
import { toForm } from "./internal/grantForm.js"
import { checkEndpoint } from "./internal/http.js"
import * as Reader from "./internal/reader.js"
import type { ConfigurationError } from "./OAuthError.js"
import { isTransient, TokenRequestError } from "./OAuthError.js"
import type { Provider } from "./Provider.js"
import type { ScopeSet } from "./Scopes.js"
import type { Token } from "./Token.js"
import { toToken } from "./TokenResponse.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly provider: Provider<string>
  readonly client: ClientConfig
  /** The longest one attempt may take (default 10 seconds). */
  readonly attemptTimeout?: Duration.DurationInput | undefined
  /** The longest a request may take over all its attempts (default 60 seconds). */
  readonly deadline?: Duration.DurationInput | undefined
  /** Attempts for transient failures (default 4). */
  readonly maxAttempts?: number | undefined
  /** The first backoff delay, doubled at each retry, with jitter (default 500 milliseconds). */
  readonly backoff?: Duration.DurationInput | undefined
}

/**
 * The token endpoint of one client at one provider. Device authorization, introspection, pushed
 * authorization requests and the ID token's JWKS are sent with the HTTP client, timeouts and client
 * authentication of an endpoint from {@link make} (or a copy of one, `{ ...endpoint }`); one built
 * by hand, as a test double, serves `request` and `revoke` only (the others refuse it with a
 * `ConfigurationError`).
 *
 * @since 0.1.0
 * @category models
 */
export interface TokenEndpoint {
  readonly provider: Provider<string>
  readonly client: ClientConfig
  /**
   * Sends one grant. `requested` is recorded as granted when the response has no `scope`;
   * `previous` is the token being replaced (its refresh token is kept when the response has none);
   * `nonce` is the login's, which its ID token must carry (`IdToken.openId`).
   */
  readonly request: (
    grant: Grant,
    options?: {
      readonly requested?: ScopeSet<string> | undefined
      readonly previous?: Token | undefined
      readonly nonce?: Option.Option<Redacted.Redacted<string>> | undefined
    }
  ) => Effect.Effect<Token, TokenRequestError | ConfigurationError | IdTokenError>
  /**
   * RFC 7009 revocation. When the provider has no revocation endpoint, nothing is sent to the
   * server (the token stays valid there until it expires): it succeeds and logs a warning.
   */
  readonly revoke: (
    token: Redacted.Redacted<string>,
    options?: { readonly hint?: "access_token" | "refresh_token" | undefined }
  ) => Effect.Effect<void, TokenRequestError | ConfigurationError>
}

/**
 * The token endpoint of one client at one provider.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options): Effect.Effect<TokenEndpoint, never, HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const { client, provider } = options
    const { openId } = provider.extensions ?? {}
    const reader = Reader.make(
      yield* HttpClient.HttpClient,
      provider,
      clientSecrets(client),
      options,
      Duration.seconds(60)
    )
    const endpointUrl = (url: string) => checkEndpoint(url, provider.allowInsecureHttp)

    const annotations = (grantType: string) => ({ "oauth.grant_type": grantType, "oauth.provider": provider.name })

    const request: TokenEndpoint["request"] = (grant, requestOptions) =>
      Effect.gen(function*() {
        const url = yield* endpointUrl(provider.tokenEndpoint)
        // A refresh whose answer was lost or garbled may have rotated the refresh token on the
        // server: it is sent again once with the same token, and never more.
        let unknownOutcomes = 0
        const previous = requestOptions?.previous
        const known = previous === undefined ? [] : [previous.accessToken, ...Option.toArray(previous.refreshToken)]
        // The token's lifetime counts from when the successful attempt was sent, not from when its
        // answer was read: the server's clock started then.
        const [body, sentAt] = yield* Reader.withRetries(
          reader,
          (deadlineAt) => sentAtOf(post(options, reader, url, toForm(grant), deadlineAt, known)),
          (error) => {
            // A code or device code is single-use: its exchange is never repeated.
            if (grant._tag === "AuthorizationCode" || grant._tag === "DeviceCode") return false
            if (grant._tag === "RefreshToken" && outcomeUnknown(error)) return unknownOutcomes++ === 0
            return isTransient(error)
          }
        ).pipe(Effect.mapError((error) => grant._tag === "AuthorizationCode" ? singleUse(error) : error))
        const token = yield* toToken(body, {
          provider,
          status: 200,
          now: sentAt,
          requested: requestOptions?.requested,
          previous: requestOptions?.previous
        })
        return openId === undefined
          ? token
          : yield* openId.check({
            endpoint: self,
            body,
            token,
            grant,
            previous: requestOptions?.previous,
            nonce: requestOptions?.nonce ?? Option.none()
          })
      }).pipe(
        Effect.withSpan("TokenEndpoint.request", {
          captureStackTrace: false,
          attributes: annotations(grant._tag)
        }),
        Effect.annotateLogs(annotations(grant._tag))
      )

    const revoke: TokenEndpoint["revoke"] = (token, revokeOptions) =>
      Option.match(provider.revocationEndpoint, {
        onNone: () =>
          Effect.logWarning(
            `${provider.name} has no revocation endpoint: nothing was sent, and the token stays valid at the ` +
              "server until it expires (set revocationEndpoint if the provider has one)"
          ).pipe(Effect.annotateLogs({ "oauth.provider": provider.name })),
        onSome: (url) =>
          Effect.flatMap(endpointUrl(url), (parsed) =>
            Reader.withRetries(
              reader,
              (deadlineAt) =>
                post(options, reader, parsed, [
                  ["token", Redacted.value(token)],
                  ...(revokeOptions?.hint ? [["token_type_hint", revokeOptions.hint] as const] : [])
                ], deadlineAt).pipe(
                  // RFC 7009 §2.2: a successful revocation may answer with an empty body.
                  Effect.catchIf(
                    (error) => error instanceof TokenRequestError && error.kind === "NotJson",
                    () => Effect.succeed({})
                  ),
                  Effect.asVoid
                ),
              isTransient
            )).pipe(
              Effect.withSpan("TokenEndpoint.revoke", {
                captureStackTrace: false,
                attributes: { "oauth.provider": provider.name }
              }),
              Effect.annotateLogs({ "oauth.provider": provider.name })
            )
      })

    const self: WithReader = { provider, client, request, revoke, [ReaderId]: reader }
    return self
  })

const sentAtOf = <A, E, R>(attempt: Effect.Effect<A, E, R>): Effect.Effect<readonly [A, number], E, R> =>
  Effect.flatMap(Clock.currentTimeMillis, (sentAt) => Effect.map(attempt, (a) => [a, sentAt] as const))

// RFC 6749 §4.1.2: a code is single use, so an exchange whose answer never came must not be sent
// again (the server may have spent the code): the error says so, and is not transient.
const singleUse = <E>(error: E | TokenRequestError): E | TokenRequestError =>
  error instanceof TokenRequestError && error.reason === "Transport"
    ? new TokenRequestError({
      reason: "Transport",
      ...(error.kind === undefined ? {} : { kind: error.kind }),
      detail: `${error.detail}; the authorization code it carried is single use and may have been spent`,
      retryable: false
    })
    : error

// The answer to these never arrived whole, so the server may or may not have acted on the request.
const outcomeUnknown = (error: Reader.Failure): boolean =>
  error instanceof TokenRequestError && (
    (error.reason === "Transport" && error.kind !== "Deadline") ||
    (error.kind === "NotJson" && error.status !== undefined && error.status >= 200 && error.status < 300)
  )
