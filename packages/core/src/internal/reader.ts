/**
 * Sending a request to a provider and reading its answer under the same rules for every caller
 * (token endpoint, revocation, device authorization, introspection, PAR, discovery, JWKS): redirects
 * are never followed, each attempt has a timer clipped to the request's deadline, and transient
 * failures are retried with backoff. Separate functions, so a bundle that only posts grants does not
 * carry the JSON reader of discovery and the JWKS.
 *
 * @internal
 */
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import type { ConfigurationError } from "../OAuthError.js"
import { isTransient, TokenRequestError } from "../OAuthError.js"
import type { Provider } from "../Provider.js"
import * as Http from "./http.js"

/**
 * What a caller may set of how long one request may take and how often it is tried (the token
 * endpoint's `Options` has these).
 *
 * @internal
 */
export interface TimingOptions {
  readonly attemptTimeout?: Duration.DurationInput | undefined
  readonly deadline?: Duration.DurationInput | undefined
  readonly maxAttempts?: number | undefined
  readonly backoff?: Duration.DurationInput | undefined
}

/** Everything a request is sent and read with. @internal */
export interface Reader {
  /** Without tracer propagation (see {@link make}). */
  readonly http: HttpClient.HttpClient
  /** Its error shapes, whether it allows plain HTTP, and its DPoP extension (which sees every answer). */
  readonly provider: Http.ErrorBodies & Pick<Provider<string>, "allowInsecureHttp" | "extensions">
  /** Taken out of any server text, whatever the request carried (the client's own secret). */
  readonly secrets: ReadonlyArray<string>
  readonly attemptTimeout: Duration.Duration
  readonly deadline: Duration.Duration
  readonly maxAttempts: number
  readonly backoff: Duration.Duration
}

/** @internal */
export type Failure = TokenRequestError | ConfigurationError

/**
 * A reader over `http`, with `deadline` when `options` name none.
 *
 * @internal
 */
export const make = (
  http: HttpClient.HttpClient,
  provider: Reader["provider"],
  secrets: ReadonlyArray<string>,
  options: TimingOptions,
  deadline: Duration.DurationInput
): Reader => ({
  // No `traceparent` to the provider: it is another party's server, and in a browser the extra
  // header makes the token request need a CORS preflight that providers do not allow.
  http: HttpClient.withTracerPropagation(http, false),
  provider,
  secrets,
  attemptTimeout: Duration.decode(options.attemptTimeout ?? Duration.seconds(10)),
  deadline: Duration.decode(options.deadline ?? deadline),
  maxAttempts: Math.max(1, Math.floor(options.maxAttempts ?? 4)),
  backoff: Duration.decode(options.backoff ?? Duration.millis(500))
})

// One timer per attempt: the attempt's own timeout, or what is left of the deadline if that is
// sooner (a timer is a fiber or two, so the deadline is not raced separately).
const timeout =
  (reader: Reader, deadlineAt: number) =>
  <A, E, R>(attempt: Effect.Effect<A, E, R>): Effect.Effect<A, E | TokenRequestError, R> =>
    Effect.flatMap(Clock.currentTimeMillis, (now) => {
      const left = deadlineAt - now
      return left < Duration.toMillis(reader.attemptTimeout)
        ? Effect.timeoutFail(attempt, {
          duration: Duration.millis(Math.max(0, left)),
          onTimeout: () =>
            new TokenRequestError({
              reason: "Transport",
              kind: "Deadline",
              detail: `no answer within ${Duration.format(reader.deadline)}, all attempts counted`
            })
        })
        : Effect.timeoutFail(attempt, {
          duration: reader.attemptTimeout,
          onTimeout: () =>
            new TokenRequestError({
              reason: "Transport",
              kind: "Timeout",
              detail: `no answer within ${Duration.format(reader.attemptTimeout)}`
            })
        })
    })

/**
 * One attempt: sends `request` and reads its JSON object, with `secrets` (and the reader's own)
 * taken out of any server text.
 *
 * @internal
 */
export const send = (
  reader: Reader,
  request: HttpClientRequest.HttpClientRequest,
  secrets: ReadonlyArray<string>,
  deadlineAt: number
): Effect.Effect<Readonly<Record<string, unknown>>, TokenRequestError> =>
  Effect.flatMap(Effect.serviceOption(FetchHttpClient.RequestInit), (requestInit) =>
    reader.http.execute(request).pipe(
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
        reader.provider.extensions?.dpop?.observe(request.url, response.headers)
      ),
      Effect.flatMap((response) => Http.readResponse(reader.provider, response, [...reader.secrets, ...secrets])),
      Effect.scoped,
      // A fetch-based client would follow redirects by itself; the caller's other fetch options stay.
      Effect.provideService(FetchHttpClient.RequestInit, {
        ...Option.getOrElse(requestInit, () => ({})),
        redirect: "manual"
      }),
      timeout(reader, deadlineAt)
    ))

/**
 * Transient failures are retried with exponential backoff and jitter, waiting at least
 * `Retry-After`; a wait that would end after the deadline is not started, so the caller gets the
 * server's own error (with its `Retry-After`) rather than a bare deadline.
 *
 * @internal
 */
export const withRetries = <A, E extends Failure>(
  reader: Reader,
  attempt: (deadlineAt: number) => Effect.Effect<A, E>,
  retryable: (error: E) => boolean
): Effect.Effect<A, E> =>
  Effect.flatMap(Clock.currentTimeMillis, (start) => {
    const deadlineAt = start + Duration.toMillis(reader.deadline)
    const waitFor = (delay: Duration.Duration, error: E) =>
      Duration.max(delay, Duration.millis(error instanceof TokenRequestError ? error.retryAfterMillis ?? 0 : 0))
    const policy = Schedule.exponential(reader.backoff).pipe(
      Schedule.jittered,
      Schedule.delays,
      Schedule.intersect(Schedule.identity<E>()),
      Schedule.intersect(Schedule.count),
      Schedule.modifyDelay(([[delay, error]]) => waitFor(delay, error)),
      Schedule.checkEffect((_, [[delay, error], retries]) =>
        retries + 1 >= reader.maxAttempts || !retryable(error)
          ? Effect.succeed(false)
          : Effect.map(
            Clock.currentTimeMillis,
            (now) => now + Duration.toMillis(waitFor(delay, error)) <= deadlineAt
          )
      ),
      Schedule.tapInput((error: E) =>
        Effect.logDebug("an attempt of a request to the provider failed").pipe(
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

/**
 * Reads a JSON object from `url` (discovery's metadata, a JWKS), retrying what is transient.
 *
 * @internal
 */
export const getJson = (
  reader: Reader,
  url: string
): Effect.Effect<Readonly<Record<string, unknown>>, Failure> =>
  Effect.flatMap(
    Http.checkEndpoint(url, reader.provider.allowInsecureHttp),
    (parsed) =>
      withRetries<Readonly<Record<string, unknown>>, Failure>(
        reader,
        (deadlineAt) => send(reader, HttpClientRequest.get(parsed).pipe(HttpClientRequest.acceptJson), [], deadlineAt),
        isTransient
      )
  )
