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
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import type { ClientConfig } from "./ClientConfig.js"
import type { Grant } from "./Grant.js"
import type { IdTokenError } from "./IdToken.js"
import { toForm } from "./internal/grantForm.js"
import * as Http from "./internal/http.js"
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
 * The token endpoint of one client at one provider.
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
  /**
   * Posts a form to one of the provider's endpoints with the client's authentication, and reads a
   * JSON object back (used by device authorization).
   */
  readonly postForm: (
    url: string,
    form: ReadonlyArray<readonly [string, string]>
  ) => Effect.Effect<Readonly<Record<string, unknown>>, TokenRequestError | ConfigurationError>
  /** Reads a JSON object from one of the provider's URLs with the same caps (used by discovery). */
  readonly getJson: (
    url: string
  ) => Effect.Effect<Readonly<Record<string, unknown>>, TokenRequestError | ConfigurationError>
}

// The form fields that carry a credential: a server that echoes one must not get it into an error.
const secretFields = new Set([
  "client_secret",
  "client_assertion",
  "code",
  "code_verifier",
  "refresh_token",
  "device_code",
  "password",
  "token"
])

/**
 * The token endpoint of one client at one provider.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options): Effect.Effect<TokenEndpoint, never, HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const { client, provider } = options
    // No `traceparent` to the provider: it is another party's server, and in a browser the extra
    // header makes the token request need a CORS preflight that providers do not allow.
    const http = HttpClient.withTracerPropagation(yield* HttpClient.HttpClient, false)
    const attemptTimeout = Duration.decode(options.attemptTimeout ?? Duration.seconds(10))
    const deadline = Duration.decode(options.deadline ?? Duration.seconds(60))
    const maxAttempts = Math.max(1, Math.floor(options.maxAttempts ?? 4))
    const backoff = Duration.decode(options.backoff ?? Duration.millis(500))

    const { clientAssertion, dpop, openId } = provider.extensions ?? {}

    const clientSecret = Option.match(client.clientSecret, { onNone: () => [], onSome: (s) => [Redacted.value(s)] })

    // A signed assertion and a DPoP proof are made afresh for every attempt (a new jti each).
    const post = (
      url: URL,
      form: ReadonlyArray<readonly [string, string]>,
      deadlineAt: number,
      known: ReadonlyArray<Redacted.Redacted<string>> = []
    ) => {
      const attempt = (headers: Record<string, string>) =>
        Effect.flatMap(
          clientAssertion === undefined
            ? Effect.succeed(Http.authenticate(provider, client, form))
            : clientAssertion.authenticate(client, provider, form),
          (authenticated) =>
            send(
              HttpClientRequest.post(url).pipe(
                HttpClientRequest.setHeaders({ accept: "application/json", ...authenticated.headers, ...headers }),
                HttpClientRequest.bodyUrlParams(authenticated.form)
              ),
              [
                ...clientSecret,
                ...authenticated.form.filter(([name]) => secretFields.has(name)).map(([, value]) => value),
                ...known.map(Redacted.value)
              ],
              deadlineAt
            )
        )
      return dpop === undefined ? attempt({}) : dpop.tokenRequest(url.href, attempt)
    }

    // One timer per attempt: the attempt's own timeout, or what is left of the deadline if that is
    // sooner (a timer is a fiber or two, so the deadline is not raced separately).
    const timeout =
      (deadlineAt: number) => <A, E, R>(attempt: Effect.Effect<A, E, R>): Effect.Effect<A, E | TokenRequestError, R> =>
        Effect.flatMap(Clock.currentTimeMillis, (now) => {
          const left = deadlineAt - now
          return left < Duration.toMillis(attemptTimeout)
            ? Effect.timeoutFail(attempt, {
              duration: Duration.millis(Math.max(0, left)),
              onTimeout: () =>
                new TokenRequestError({
                  reason: "Transport",
                  kind: "Deadline",
                  detail: `no token within ${Duration.format(deadline)}`
                })
            })
            : Effect.timeoutFail(attempt, {
              duration: attemptTimeout,
              onTimeout: () =>
                new TokenRequestError({
                  reason: "Transport",
                  kind: "Timeout",
                  detail: `no answer within ${Duration.format(attemptTimeout)}`
                })
            })
        })

    const send = (request: HttpClientRequest.HttpClientRequest, secrets: ReadonlyArray<string>, deadlineAt: number) =>
      Effect.flatMap(Effect.serviceOption(FetchHttpClient.RequestInit), (requestInit) =>
        http.execute(request).pipe(
          // A client piped through `filterStatusOk` hands error statuses over as failures: read them anyway.
          Effect.catchTag("ResponseError", (error) =>
            error.reason === "StatusCode" ? Effect.succeed(error.response) : Effect.fail(error)),
          Effect.mapError((error) =>
            new TokenRequestError({
              reason: "Transport",
              kind: "Network",
              detail: error._tag === "RequestError" ? `${error.reason} error` : `unexpected ${error.reason}`
            })
          ),
          Effect.tap((response) =>
            dpop?.observe(request.url, response.headers)
          ),
          Effect.flatMap((response) => Http.readResponse(provider, response, secrets)),
          Effect.scoped,
          // A fetch-based client would follow redirects by itself; the caller's other fetch options stay.
          Effect.provideService(FetchHttpClient.RequestInit, {
            ...Option.getOrElse(requestInit, () => ({})),
            redirect: "manual"
          }),
          timeout(deadlineAt)
        ))

    /**
     * Transient failures are retried with exponential backoff and jitter, waiting at least
     * `Retry-After`; a wait that would end after the deadline is not started, so the caller gets
     * the server's own error (with its `Retry-After`) rather than a bare deadline.
     */
    const withRetries = <A>(
      attempt: (deadlineAt: number) => Effect.Effect<A, Failure>,
      retryable: (error: Failure) => boolean
    ): Effect.Effect<A, Failure> =>
      Effect.flatMap(Clock.currentTimeMillis, (start) => {
        const deadlineAt = start + Duration.toMillis(deadline)
        const waitFor = (delay: Duration.Duration, error: Failure) =>
          Duration.max(delay, Duration.millis(error instanceof TokenRequestError ? error.retryAfterMillis ?? 0 : 0))
        const policy = Schedule.exponential(backoff).pipe(
          Schedule.jittered,
          Schedule.delays,
          Schedule.intersect(Schedule.identity<Failure>()),
          Schedule.intersect(Schedule.count),
          Schedule.modifyDelay(([[delay, error]]) => waitFor(delay, error)),
          Schedule.checkEffect((_, [[delay, error], retries]) =>
            retries + 1 >= maxAttempts || !retryable(error)
              ? Effect.succeed(false)
              : Effect.map(
                Clock.currentTimeMillis,
                (now) => now + Duration.toMillis(waitFor(delay, error)) <= deadlineAt
              )
          ),
          Schedule.tapInput((error: Failure) =>
            Effect.logDebug("token endpoint attempt failed").pipe(
              Effect.annotateLogs({
                "oauth.error": error.reason,
                "oauth.status": error instanceof TokenRequestError ? error.status ?? 0 : 0
              })
            )
          )
        )
        // Each attempt's timer stops at the deadline, and no wait is started that would end after it.
        return Effect.retry(attempt(deadlineAt), policy)
      })

    const endpointUrl = (url: string) => Effect.mapError(Http.checkEndpoint(url, provider.allowInsecureHttp), (e) => e)

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
        const [body, sentAt] = yield* withRetries(
          (deadlineAt) => sentAtOf(post(url, toForm(grant), deadlineAt, known)),
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

    const postForm: TokenEndpoint["postForm"] = (url, form) =>
      Effect.flatMap(
        endpointUrl(url),
        (parsed) => withRetries((deadlineAt) => post(parsed, form, deadlineAt), isTransient)
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
            withRetries(
              (deadlineAt) =>
                post(parsed, [
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

    const getJson: TokenEndpoint["getJson"] = (url) =>
      Effect.flatMap(
        endpointUrl(url),
        (parsed) =>
          withRetries(
            (deadlineAt) =>
              send(HttpClientRequest.get(parsed).pipe(HttpClientRequest.acceptJson), clientSecret, deadlineAt),
            isTransient
          )
      )

    const self: TokenEndpoint = { provider, client, request, revoke, postForm, getJson }
    return self
  })

type Failure = TokenRequestError | ConfigurationError

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
const outcomeUnknown = (error: Failure): boolean =>
  error instanceof TokenRequestError && (
    (error.reason === "Transport" && error.kind !== "Deadline") ||
    (error.kind === "NotJson" && error.status !== undefined && error.status >= 200 && error.status < 300)
  )
