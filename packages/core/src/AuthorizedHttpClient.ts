/**
 * An `HttpClient` that spends the tokens of an `OAuthClient`: it adds `Authorization: Bearer` to
 * requests for trusted origins only (the provider's API, unless widened; others fail unsent),
 * retries once after a 401 (refreshing only if the refused token is still the current one), turns a
 * 403 `insufficient_scope` into a typed error, waits out 429s, checks required scopes before
 * sending, and applies the provider's rate limit, shared by every fiber. What it hands back
 * (responses, errors) refers to the caller's request, never to the copy that carried the token.
 *
 * @since 0.1.0
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FiberRef from "effect/FiberRef"
import { identity } from "effect/Function"
import { globalValue } from "effect/GlobalValue"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import type * as Granted from "./Granted.js"
import { discard } from "./internal/http.js"
import * as RetryAfter from "./internal/retryAfter.js"
import * as TrustedOrigins from "./internal/trustedOrigins.js"
import * as WithoutCredentials from "./internal/withoutCredentials.js"
import type { OAuthClientError } from "./OAuthClient.js"
import * as OAuthClientModule from "./OAuthClient.js"
import { OAuthClient } from "./OAuthClient.js"
import type { UntrustedOrigin } from "./OAuthError.js"
import { ConfigurationError, ReauthorizationRequired, ScopeError } from "./OAuthError.js"
import type { Provider } from "./Provider.js"
import * as RateLimit from "./RateLimit.js"
import type { ScopeRules } from "./ScopeRules.js"
import type { ScopeSet } from "./Scopes.js"
import { isSubset, make as makeScopes, union } from "./Scopes.js"
import type { Token } from "./Token.js"
import type { TokenStore } from "./TokenStore.js"

/**
 * What a request through the authorized client can fail with.
 *
 * @since 0.1.0
 * @category models
 */
export type Error = HttpClientError.HttpClientError | OAuthClientError | ScopeError | UntrustedOrigin

/**
 * The authorized client: an ordinary `HttpClient` whose requests carry the slot's token.
 *
 * @since 0.1.0
 * @category tags
 */
export class AuthorizedHttpClient extends Context.Tag("@effect-oauth/core/AuthorizedHttpClient")<
  AuthorizedHttpClient,
  HttpClient.HttpClient.With<Error>
>() {}

/**
 * The scopes that requests made in the current fiber need (see {@link requireScopes}).
 *
 * @since 0.1.0
 * @category fiber refs
 */
export const currentRequiredScopes: FiberRef.FiberRef<ScopeSet<string>> = globalValue(
  "@effect-oauth/core/AuthorizedHttpClient/currentRequiredScopes",
  () => FiberRef.unsafeMake<ScopeSet<string>>(makeScopes())
)

/**
 * Runs an effect whose authorized requests need `scopes`, named from the provider's own scopes (a
 * typo is a compile error). Each request checks the granted scopes first and fails with
 * `ScopeError`, sending nothing, when one is missing. The need also enters the effect's
 * type as `Granted<typeof provider, scope>`, which only a client of that provider that can hold
 * the scope provides: running the effect with a client-credentials client asking for other
 * scopes, or with another provider's client, does not compile.
 *
 * @example
 * ```ts nocheck
 * const post = sendMessage.pipe(AuthorizedHttpClient.requireScopes(Osu.provider, "chat.write"))
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const requireScopes = <
  Prov extends Provider<string, ScopeRules<string>>,
  const S extends ReadonlyArray<Prov["scopes"][number]>
>(
  _provider: Prov,
  ...scopes: S
): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R | Granted.Each<Prov, S[number]>> => {
  const needed = makeScopes(...scopes)
  return (self) => Effect.locallyWith(self, currentRequiredScopes, (current) => union(current, needed))
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /**
   * Where else the token may go: origins (`"https://files.example"`), or a predicate on the
   * request's URL. The origin of the provider's `apiBaseUrl` is always trusted; a request to any
   * other origin fails with `UntrustedOrigin` and is not sent.
   */
  readonly trustedOrigins?: ReadonlyArray<string> | ((url: URL) => boolean) | undefined
  /**
   * Send the token over plain `http:` to hosts that are not loopback (RFC 6750 §5.3 forbids it on
   * an open network); default the provider's `allowInsecureHttp`.
   */
  readonly allowInsecureHttp?: boolean | undefined
  /** How many times a 429 is waited out before the response is returned (default 3). */
  readonly maxRateLimitRetries?: number | undefined
  /** The longest single wait for a 429 (default 60 seconds); a longer `Retry-After` is returned as is. */
  readonly maxRateLimitWait?: Duration.DurationInput | undefined
  /**
   * A pause before retrying a 401 a second time right after a refresh (Spotify's quirk); default
   * the provider's `unauthorizedGracePeriod` (none for most providers).
   */
  readonly unauthorizedGracePeriod?: Duration.DurationInput | undefined
}

/**
 * Reads `Retry-After` (RFC 9110 §10.2.3): seconds, or an HTTP date.
 *
 * @since 0.1.0
 * @category parsing
 */
export const retryAfterMillis: (value: string | undefined, now: number) => Option.Option<number> = RetryAfter.parse

const insufficientScope = (header: string | undefined): Option.Option<ReadonlyArray<string>> => {
  if (header === undefined || !/error="?insufficient_scope/i.test(header)) return Option.none()
  const scope = /scope="([^"]*)"/i.exec(header)
  return Option.some(scope === null ? [] : scope[1].split(" ").filter((s) => s.length > 0))
}

/**
 * Builds the authorized client from an `OAuthClient` service and a plain `HttpClient`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options = {}): Effect.Effect<
  HttpClient.HttpClient.With<Error>,
  never,
  OAuthClient | HttpClient.HttpClient | Scope.Scope
> =>
  Effect.gen(function*() {
    const client = yield* OAuthClient
    const base = yield* HttpClient.HttpClient
    const maxRetries = options.maxRateLimitRetries ?? 3
    const maxWait = Duration.toMillis(options.maxRateLimitWait ?? Duration.seconds(60))
    const grace = Option.orElse(
      Option.map(Option.fromNullable(options.unauthorizedGracePeriod), Duration.decode),
      () => client.provider.unauthorizedGracePeriod
    )
    // One limit per provider and client: every client built under one `RateLimit` (a process's, or
    // a fleet's) shares it; without one, this client keeps the limit by itself.
    const rule = client.provider.rateLimit
    const limiter = Option.isNone(rule) ? Option.none() : Option.some(yield* RateLimit.sharedOr(rule.value.own))
    const limitKey = RateLimit.keyOf(client.provider.name, client.clientId)
    const limit: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R> =
      Option.isNone(limiter) || Option.isNone(rule)
        ? identity
        : (effect) => Effect.zipRight(limiter.value.take(limitKey, rule.value), effect)

    const untrusted = TrustedOrigins.make({
      apiBaseUrl: client.provider.apiBaseUrl,
      trusted: options.trustedOrigins,
      allowInsecureHttp: options.allowInsecureHttp ?? client.provider.allowInsecureHttp
    })

    const checkScopes = (required: ScopeSet<string>) =>
      Effect.flatMap(client.scopes, (granted) =>
        isSubset(required, granted)
          ? Effect.void
          : Effect.fail(new ScopeError({ reason: "Insufficient", required: required.values, granted: granted.values })))

    const dpop = client.provider.extensions?.dpop
    const execute = (request: HttpClientRequest.HttpClientRequest) => limit(base.execute(request))
    // What comes back refers to the caller's request, not to the copy that carried the token.
    const sendWith = (request: HttpClientRequest.HttpClientRequest, token: Token) => {
      const secret = Redacted.value(token.accessToken)
      // RFC 9449 §7: a DPoP-bound token goes only with a proof of its key, never as a Bearer token.
      const sent = token.tokenType === "Bearer"
        ? execute(HttpClientRequest.setHeader(request, "authorization", `Bearer ${secret}`))
        : dpop === undefined
        ? Effect.fail(
          new ConfigurationError({
            reason: "MissingEndpoint",
            detail: "a DPoP token needs the provider's Dpop extension"
          })
        )
        : dpop.resourceRequest(request, token.accessToken, execute)
      return Effect.mapBoth(sent, {
        onFailure: (error) =>
          HttpClientError.isHttpClientError(error) ? WithoutCredentials.error(request, error, secret) : error,
        onSuccess: (response) => WithoutCredentials.response(request, response, secret)
      })
    }

    // 401: one shared refresh (or the token another fiber already got), one retry.
    const afterUnauthorized = (
      request: HttpClientRequest.HttpClientRequest,
      refused: Token,
      response: HttpClientResponse.HttpClientResponse
    ) =>
      Effect.gen(function*() {
        yield* discard(response)
        const refusedAt = yield* Clock.currentTimeMillis
        let next = yield* client.invalidate(refused).pipe(
          // The slot's own wording assumes the token ran out; this one was refused before it expired.
          Effect.catchIf(
            (error) => error instanceof ReauthorizationRequired && error.reason === "NoRefreshToken",
            () =>
              new ReauthorizationRequired({
                reason: "NoRefreshToken",
                detail:
                  "the API refused the token (HTTP 401) and there is no refresh token to get another: sign in again"
              })
          )
        )
        let retried = yield* sendWith(request, next)
        if (retried.status === 401 && Option.isSome(grace)) {
          yield* discard(retried)
          yield* Effect.sleep(grace.value)
          retried = yield* sendWith(request, next)
        }
        // The token retried with came from an earlier refresh by another fiber (issued before this
        // 401), and was refused too: it may have run out while the request waited on a busy server.
        // One refresh of our own, then the verdict.
        if (retried.status === 401 && next.issuedAt < refusedAt) {
          yield* discard(retried)
          next = yield* client.invalidate(next)
          retried = yield* sendWith(request, next)
        }
        if (retried.status !== 401) {
          return retried
        }
        yield* discard(retried)
        // The token is refused for good: later calls must not spend it again.
        yield* client.drop(next)
        return yield* new ReauthorizationRequired({
          reason: "Revoked",
          detail: "the API refused the token again after a refresh: the grant was probably revoked; sign in again"
        })
      })

    // Written without a generator: this is the path every API request takes, and it should cost
    // next to nothing over the bare client (DESIGN.md §7, the overhead benchmark).
    const attempt = (
      request: HttpClientRequest.HttpClientRequest,
      count: number
    ): Effect.Effect<HttpClientResponse.HttpClientResponse, Error> =>
      Effect.flatMap(client.token, (token) =>
        Effect.flatMap(sendWith(request, token), (response) => {
          switch (response.status) {
            case 401:
              return afterUnauthorized(request, token, response)
            case 403: {
              const missing = insufficientScope(response.headers["www-authenticate"])
              return Option.isNone(missing)
                ? Effect.succeed(response)
                : Effect.zipRight(
                  discard(response),
                  new ScopeError({ reason: "Insufficient", required: missing.value, granted: token.scopes.values })
                )
            }
            case 429:
              return Effect.flatMap(Clock.currentTimeMillis, (now) => {
                const wait = Option.getOrElse(
                  retryAfterMillis(response.headers["retry-after"], now),
                  () => 1000 * 2 ** count
                )
                return count >= maxRetries || wait > maxWait
                  ? Effect.succeed(response)
                  : discard(response).pipe(
                    Effect.zipRight(Effect.sleep(Duration.millis(wait))),
                    Effect.zipRight(attempt(request, count + 1))
                  )
              })
            default:
              return Effect.succeed(response)
          }
        }))

    const send = (request: HttpClientRequest.HttpClientRequest) => {
      const refused = untrusted(request)
      return refused !== undefined
        ? Effect.fail(refused)
        : Effect.flatMap(FiberRef.get(currentRequiredScopes), (required) =>
          required.size === 0 ? attempt(request, 0) : Effect.zipRight(checkScopes(required), attempt(request, 0)))
    }

    return HttpClient.makeWith<never, never, Error, never>((request) =>
      Effect.flatMap(request, send), Effect.succeed)
  })

/**
 * The authorized client as a layer, over the `OAuthClient` and a plain `HttpClient`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options?: Options
): Layer.Layer<AuthorizedHttpClient, never, OAuthClient | HttpClient.HttpClient> =>
  Layer.scoped(AuthorizedHttpClient, make(options))

/**
 * A tag of its own for one API, so an application can hold several side by side:
 *
 * ```ts nocheck
 * class OsuApi extends AuthorizedHttpClient.Tag("OsuApi")<OsuApi>() {}
 * class SpotifyApi extends AuthorizedHttpClient.Tag("SpotifyApi")<SpotifyApi>() {}
 * const layer = Layer.mergeAll(
 *   OsuApi.layer({ provider: Osu.provider, client: osu, session: OAuthClient.clientCredentials(Scopes.make("public")) }),
 *   SpotifyApi.layer({ provider: Spotify.provider, client: spotify, session: OAuthClient.user() })
 * )
 * ```
 *
 * Each layer builds its own slot (an `OAuthClient` that only this API sees) and the `Granted`
 * scopes of its session.
 *
 * @since 0.1.0
 * @category tags
 */
export const Tag = <const Id extends string>(id: Id) => <Self>(): TagClass<Self, Id> => {
  const tag = Context.Tag(id)<Self, HttpClient.HttpClient.With<Error>>()
  return Object.assign(tag, {
    layer: <P extends string, Rules extends ScopeRules<P>, Sess extends OAuthClientModule.Session>(
      options: OAuthClientModule.Options<P, Rules, Sess> & OAuthClientModule.SessionCheck<Rules, Sess> & {
        readonly http?: Options | undefined
      }
    ) =>
      Layer.merge(
        Layer.scoped(tag, make(options.http)).pipe(
          Layer.provide(Layer.scoped(OAuthClient, OAuthClientModule.make(options)))
        ),
        OAuthClientModule.layerGranted(options)
      )
  }) as TagClass<Self, Id>
}

/**
 * What {@link Tag} makes: a tag whose service is an authorized `HttpClient`, with a layer that
 * builds it over a slot of its own.
 *
 * @since 0.1.0
 * @category tags
 */
export interface TagClass<Self, Id extends string>
  extends Context.TagClass<Self, Id, HttpClient.HttpClient.With<Error>>
{
  /** Builds the authorized client over a slot of its own, and provides its `Granted` scopes. */
  readonly layer: <P extends string, Rules extends ScopeRules<P>, Sess extends OAuthClientModule.Session>(
    options: OAuthClientModule.Options<P, Rules, Sess> & OAuthClientModule.SessionCheck<Rules, Sess> & {
      readonly http?: Options | undefined
    }
  ) => Layer.Layer<
    Self | Granted.Granted<Provider<P, Rules>, OAuthClientModule.GrantedScopes<P, Rules, Sess>>,
    ScopeError,
    HttpClient.HttpClient | TokenStore
  >
}
