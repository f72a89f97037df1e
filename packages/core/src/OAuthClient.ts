/**
 * The stateful heart of effect-oauth: one `OAuthClient` keeps the token of one slot (a client, or a
 * client and a user), hands out a valid token to any number of fibers, refreshes it in a
 * background fiber before it expires, persists every new token to the `TokenStore` before anyone
 * uses it, and reports what changed.
 *
 * How a refresh works:
 * - `token` returns the cached token while it is usable. When it is not, the caller joins the one
 *   refresh in flight for the slot (or starts it): concurrent callers share one request, and a
 *   failed refresh is not cached.
 * - The refresh fiber, forked into the layer's scope, sleeps until `expiresAt − skew − jitter`
 *   (skew = min(60 s, 10% of the lifetime)) and then runs the same shared refresh, so callers
 *   normally never wait. It retries transient failures with backoff and stops on fatal ones until
 *   a new token is handed to the client.
 * - A client-credentials slot re-runs its grant; a user slot spends its refresh token, keeps the
 *   old refresh token when the response has none, and on `invalid_grant` re-reads the store (another
 *   process may have rotated the token) before declaring that the user must sign in again.
 *
 * @since 0.1.0
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import type * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as Random from "effect/Random"
import * as RcMap from "effect/RcMap"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as SubscriptionRef from "effect/SubscriptionRef"
import type { ClientConfig } from "./ClientConfig.js"
import * as Grant from "./Grant.js"
import * as Granted from "./Granted.js"
import type {
  ClientAuthenticationFailed,
  ErrorResponse,
  InvalidConfiguration,
  InvalidScopeRequest,
  TokenRequestError,
  TokenStoreError
} from "./OAuthError.js"
import { ReauthorizationRequired } from "./OAuthError.js"
import type { Provider } from "./Provider.js"
import * as ScopeRules from "./ScopeRules.js"
import type { ScopeSet } from "./Scopes.js"
import { empty, format as formatScopes, fromIterable } from "./Scopes.js"
import { Token } from "./Token.js"
import * as TokenEndpoint from "./TokenEndpoint.js"
import { expectationOf, TokenStore } from "./TokenStore.js"

/**
 * Every error a caller of an `OAuthClient` can see.
 *
 * @since 0.1.0
 * @category models
 */
export type OAuthClientError = TokenRequestError | ReauthorizationRequired | InvalidScopeRequest | TokenStoreError

/**
 * The errors after which the slot stops refreshing until it is given a new token: retrying them
 * cannot help.
 *
 * @since 0.1.0
 * @category models
 */
export type FatalError =
  | ClientAuthenticationFailed
  | ReauthorizationRequired
  | InvalidConfiguration
  | InvalidScopeRequest
  | ErrorResponse

const fatalTags = new Set([
  "ClientAuthenticationFailed",
  "ReauthorizationRequired",
  "InvalidConfiguration",
  "InvalidScopeRequest",
  "ErrorResponse"
])

/**
 * Whether an error stops the slot's refreshing (see {@link FatalError}).
 *
 * @since 0.1.0
 * @category predicates
 */
export const isFatal = (error: OAuthClientError): error is FatalError => fatalTags.has(error._tag)

/**
 * What a slot holds: the client's own token (client credentials, re-run on expiry), or a user's
 * token (from an interactive login, renewed with its refresh token).
 *
 * @since 0.1.0
 * @category models
 */
export type Session = ClientCredentialsSession<string> | UserSession

/**
 * The client's own token, for the scopes `S`: the grant fixes the scopes, so the types know them.
 *
 * @since 0.1.0
 * @category models
 */
export interface ClientCredentialsSession<out S extends string = string> {
  readonly _tag: "ClientCredentials"
  readonly scopes: ScopeSet<S>
}

/**
 * A user's token from an interactive login: what the user grants is known only at run time.
 *
 * @since 0.1.0
 * @category models
 */
export interface UserSession {
  readonly _tag: "User"
  readonly userId: string
}

/**
 * The scopes a session's client may hold, for a provider with scopes `P` and rules `Rules`: a
 * client-credentials session holds what it asks for (plus what the grant implies); a user's
 * session may hold any of the provider's scopes.
 *
 * @since 0.1.0
 * @category type-level
 */
export type GrantedScopes<P extends string, Rules, Sess extends Session> = Sess extends
  ClientCredentialsSession<infer S> ? string extends S ? P : ScopeRules.Granted<Rules, "ClientCredentials", S>
  : P

/**
 * `unknown` when a session's literal scopes pass the provider's rules; otherwise a type naming the
 * broken rule, so the compiler refuses the options (see `ScopeRules.Check`).
 *
 * @since 0.1.0
 * @category type-level
 */
export type SessionCheck<Rules, Sess extends Session> = Sess extends ClientCredentialsSession<infer S>
  ? ScopeRules.Check<Rules, "ClientCredentials", S>
  : unknown

/**
 * A client-credentials session asking for `scopes`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const clientCredentials = <S extends string>(scopes: ScopeSet<S>): ClientCredentialsSession<S> => ({
  _tag: "ClientCredentials",
  scopes
})

/**
 * A user's session; `userId` names the slot in the store (default `"default"`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const user = (userId = "default"): UserSession => ({ _tag: "User", userId })

/**
 * @since 0.1.0
 * @category models
 */
export interface Options<
  P extends string = string,
  Rules extends ScopeRules.ScopeRules<P> = ScopeRules.ScopeRules<P>,
  Sess extends Session = Session
> {
  readonly provider: Provider<P, Rules>
  readonly client: ClientConfig
  readonly session: Sess
  /** The slot's key in the `TokenStore`; by default derived from the provider, client and session. */
  readonly key?: string | undefined
  /** The most a refresh is moved ahead of expiry (default 60 seconds; at most 10% of the lifetime is used). */
  readonly maxSkew?: Duration.DurationInput | undefined
  /** The least time between two refreshes of the slot, which bounds the refresh rate (default 500 ms). */
  readonly minRefreshInterval?: Duration.DurationInput | undefined
  /** Options of the token requests. */
  readonly attemptTimeout?: Duration.DurationInput | undefined
  readonly deadline?: Duration.DurationInput | undefined
}

/**
 * The service of one token slot.
 *
 * @since 0.1.0
 * @category models
 */
export interface Service<out S extends string = string> {
  readonly key: string
  readonly provider: Provider<string>
  /** A usable token: the cached one, or the result of the one refresh in flight. */
  readonly token: Effect.Effect<Token, OAuthClientError>
  /** Refreshes now (joining a refresh already in flight). */
  readonly refresh: Effect.Effect<Token, OAuthClientError>
  /**
   * Reports a token the server refused (a 401). If it is still the current token, one shared
   * refresh runs; if another fiber already replaced it, the current token is returned.
   */
  readonly invalidate: (stale: Token) => Effect.Effect<Token, OAuthClientError>
  /** The current token (or none) now and after every change: the on-token-update hook. */
  readonly changes: Stream.Stream<Option.Option<Token>>
  /** The scopes of a usable token (typed by what the session's grant can hold). */
  readonly scopes: Effect.Effect<ScopeSet<S>, OAuthClientError>
  /** Hands the slot a token from an interactive login: persisted, clears a fatal failure, scheduled. */
  readonly setToken: (token: Token) => Effect.Effect<void, TokenStoreError>
  /**
   * Revokes the tokens at the provider (RFC 7009, where it has an endpoint) and always deletes them
   * locally.
   */
  readonly revoke: Effect.Effect<void, TokenRequestError | TokenStoreError>
}

/**
 * One token slot. See the module's header for how it refreshes.
 *
 * @since 0.1.0
 * @category tags
 */
export class OAuthClient extends Context.Tag("@effect-oauth/core/OAuthClient")<OAuthClient, Service>() {}

interface State {
  readonly token: Option.Option<Token>
  /** When the refresh fiber should refresh the current token (epoch ms). */
  readonly refreshAt: Option.Option<number>
  readonly failure: Option.Option<FatalError>
  readonly inflight: Option.Option<Deferred.Deferred<Token, OAuthClientError>>
  /** When the last refresh finished (epoch ms): with `minRefreshInterval`, it bounds the refresh rate. */
  readonly lastRefreshAt: number
}

/**
 * Token requests by grant and outcome.
 *
 * @since 0.1.0
 * @category metrics
 */
export const tokenRequests = Metric.counter("effect_oauth_token_requests", {
  description: "Token requests sent, by grant type and outcome"
})

/**
 * Refreshes that failed, by error.
 *
 * @since 0.1.0
 * @category metrics
 */
export const refreshFailures = Metric.counter("effect_oauth_refresh_failures", {
  description: "Refreshes that failed, by error tag"
})

const maxSleepMillis = Duration.toMillis(Duration.hours(24))
const backoffBaseMillis = 1_000
const backoffMaxMillis = 5 * 60_000

/**
 * The default store key of a slot.
 *
 * @since 0.1.0
 * @category constructors
 */
export const defaultKey = (provider: Provider<string>, client: ClientConfig, session: Session): string =>
  session._tag === "ClientCredentials"
    ? `${provider.name}/${client.clientId}/client_credentials/${formatScopes(session.scopes)}`
    : `${provider.name}/${client.clientId}/user/${session.userId}`

/**
 * Builds the service of one slot and forks its refresh fiber into the current scope: closing the
 * scope interrupts the fiber and every request it started.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <
  P extends string,
  Rules extends ScopeRules.ScopeRules<P>,
  Sess extends Session
>(
  options: Options<P, Rules, Sess> & SessionCheck<Rules, Sess>
): Effect.Effect<
  Service<GrantedScopes<P, Rules, Sess>>,
  InvalidScopeRequest,
  HttpClient.HttpClient | TokenStore | Scope.Scope
> =>
  Effect.gen(function*() {
    const { client, provider, session } = options
    const key = options.key ?? defaultKey(provider, client, session)
    const store = yield* TokenStore
    const endpoint = yield* TokenEndpoint.make({
      provider,
      client,
      attemptTimeout: options.attemptTimeout,
      deadline: options.deadline
    })
    const scope = yield* Effect.scope
    const maxSkewMillis = Duration.toMillis(options.maxSkew ?? Duration.seconds(60))
    const minIntervalMillis = Duration.toMillis(options.minRefreshInterval ?? Duration.millis(500))
    const requested = session._tag === "ClientCredentials"
      ? Option.some(yield* ScopeRules.validate(provider.scopeRules, "ClientCredentials", session.scopes))
      : Option.none()
    const annotate = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
      Effect.annotateLogs(effect, { "oauth.provider": provider.name, "oauth.slot": key })

    const readStore = store.get(key).pipe(
      Effect.catchAll((error) =>
        Effect.logWarning("token store read failed; continuing without it", error.message).pipe(
          Effect.as(Option.none<Token>())
        )
      )
    )

    // When the fiber refreshes a token: skew ahead of expiry, minus jitter so that many processes
    // started together do not refresh in the same instant, never sooner than the floor.
    const scheduleFor = (token: Token, now: number): Effect.Effect<Option.Option<number>> =>
      Option.match(token.expiresAt, {
        onNone: () => Effect.succeedNone,
        onSome: (expiresAt) =>
          Effect.map(Random.next, (random) => {
            const lifetime = Math.max(0, expiresAt - token.issuedAt)
            const skew = Math.min(maxSkewMillis, lifetime / 10)
            return Option.some(Math.ceil(Math.max(expiresAt - skew - random * skew * 0.5, now + minIntervalMillis)))
          })
      })

    const initial = yield* readStore
    const now0 = yield* Clock.currentTimeMillis
    const ref = yield* SubscriptionRef.make<State>({
      token: initial,
      refreshAt: Option.isSome(initial) ? yield* scheduleFor(initial.value, now0) : Option.none(),
      failure: Option.none(),
      inflight: Option.none(),
      lastRefreshAt: Number.NEGATIVE_INFINITY
    })

    const isUsable = (state: State, now: number): boolean =>
      Option.match(state.token, {
        onNone: () => false,
        onSome: (token) =>
          Option.match(token.expiresAt, {
            onNone: () => true,
            // An expired token is still handed out right after a refresh: with `expires_in: 0`
            // this keeps callers from refreshing in a hot loop.
            onSome: (expiresAt) => now < expiresAt || now < state.lastRefreshAt + minIntervalMillis
          })
      })

    // Persistence failed: the new token stays in memory (the old refresh token is already spent)
    // and its write is retried with backoff until it lands or a newer token supersedes it.
    const persistLater = (token: Token) =>
      Effect.gen(function*() {
        for (let attempt = 0;; attempt++) {
          yield* Effect.sleep(Duration.millis(Math.min(backoffBaseMillis * 2 ** attempt, backoffMaxMillis)))
          const state = yield* SubscriptionRef.get(ref)
          if (Option.isNone(state.token) || state.token.value.version !== token.version) return
          const written = yield* Effect.either(store.set(key, token))
          if (written._tag === "Right") return
        }
      }).pipe(annotate, Effect.forkIn(scope), Effect.asVoid)

    const persist = (token: Token, previous: Option.Option<Token>) =>
      store.set(key, token, expectationOf(previous)).pipe(
        Effect.flatMap((written) =>
          written
            ? Effect.void
            // Someone else wrote the slot meanwhile; ours is a token the server just issued, so it
            // is valid: store it rather than lose it.
            : Effect.logDebug("token store changed during refresh; overwriting").pipe(
              Effect.zipRight(store.set(key, token)),
              Effect.asVoid
            )
        ),
        Effect.catchAll((error) =>
          Effect.logWarning("could not persist the new token; keeping it in memory and retrying", error.message).pipe(
            Effect.zipRight(persistLater(token))
          )
        )
      )

    const newer = (candidate: Token, current: Option.Option<Token>) =>
      Option.match(current, {
        onNone: () => true,
        onSome: (token) => candidate.version > token.version
      })

    const request = (grant: Grant.Grant, previous: Option.Option<Token>) =>
      endpoint.request(grant, {
        ...(Option.isSome(requested) ? { requested: requested.value } : {}),
        ...(Option.isSome(previous) ? { previous: previous.value } : {})
      }).pipe(
        Effect.tapBoth({
          onFailure: (error) =>
            Metric.increment(Metric.tagged(Metric.tagged(tokenRequests, "grant", grant._tag), "outcome", error._tag)),
          onSuccess: () =>
            Metric.increment(Metric.tagged(Metric.tagged(tokenRequests, "grant", grant._tag), "outcome", "ok"))
        })
      )

    // One refresh: runs at most once at a time per slot (see `shared`).
    const fetchToken = (current: Option.Option<Token>): Effect.Effect<Token, OAuthClientError> =>
      Effect.gen(function*() {
        // Another process sharing the store may have refreshed already: adopt its token.
        const stored = yield* readStore
        const now = yield* Clock.currentTimeMillis
        if (
          Option.isSome(stored) && newer(stored.value, current) &&
          Option.match(stored.value.expiresAt, { onNone: () => true, onSome: (at) => now < at })
        ) {
          return stored.value
        }
        if (session._tag === "ClientCredentials") {
          const token = yield* request(Grant.ClientCredentials(requested.pipe(Option.getOrThrow)), current)
          yield* persist(token, current)
          return token
        }
        const refreshToken = Option.flatMap(current, (token) => token.refreshToken)
        if (Option.isNone(refreshToken)) {
          return yield* new ReauthorizationRequired({
            reason: Option.isNone(current) ? "NoToken" : "NoRefreshToken",
            detail: Option.isNone(current)
              ? "no token is stored for this user: sign in first"
              : "the token expired and came without a refresh token: sign in again"
          })
        }
        const token = yield* request(Grant.RefreshToken(refreshToken.value), current).pipe(
          Effect.catchIf(
            (error): error is ErrorResponse =>
              Predicate.isTagged(error, "ErrorResponse") && error.error === "invalid_grant",
            () =>
              // The refresh token was refused: if another process rotated it and stored the result,
              // that token is ours too; otherwise the session is over.
              Effect.flatMap(readStore, (latest) =>
                Option.isSome(latest) && newer(latest.value, current)
                  ? Effect.succeed(latest.value)
                  : store.remove(key).pipe(
                    Effect.ignore,
                    Effect.zipRight(
                      new ReauthorizationRequired({
                        reason: "RefreshRejected",
                        detail: "the server refused the refresh token: sign in again"
                      })
                    )
                  ))
          )
        )
        if (newer(token, stored)) yield* persist(token, current)
        return token
      }).pipe(
        (refresh) => store.withRefreshLock === undefined ? refresh : store.withRefreshLock(key, refresh),
        Effect.withSpan("OAuthClient.refresh", {
          captureStackTrace: false,
          attributes: { "oauth.provider": provider.name, "oauth.session": session._tag }
        }),
        annotate
      )

    // The single flight: the first caller to find no usable token forks the refresh into the
    // layer's scope (so an interrupted caller does not abort it for the others); everyone awaits it.
    const shared = (observed: Option.Option<Token>): Effect.Effect<Token, OAuthClientError> =>
      Effect.flatten(SubscriptionRef.modifyEffect(ref, (state) =>
        Effect.gen(function*() {
          if (Option.isSome(state.inflight)) return [Deferred.await(state.inflight.value), state] as const
          if (Option.isSome(state.failure)) return [Effect.fail(state.failure.value), state] as const
          const current = state.token
          if (Option.isSome(current) && !sameToken(current, observed)) {
            return [Effect.succeed(current.value), state] as const
          }
          const deferred = yield* Deferred.make<Token, OAuthClientError>()
          yield* fetchToken(current).pipe(
            Effect.exit,
            Effect.flatMap((exit) =>
              Effect.gen(function*() {
                const now = yield* Clock.currentTimeMillis
                if (exit._tag === "Success") {
                  const refreshAt = yield* scheduleFor(exit.value, now)
                  yield* SubscriptionRef.update(ref, (s) => ({
                    ...s,
                    token: Option.some(exit.value),
                    refreshAt,
                    failure: Option.none(),
                    inflight: Option.none(),
                    lastRefreshAt: now
                  }))
                } else {
                  const failure = exit.cause
                  yield* SubscriptionRef.update(ref, (s) => {
                    const error = Cause.failureOption(failure)
                    // "Nothing stored yet" is not kept: another process or tab may store a token
                    // (a login elsewhere), and the next caller reads the store again.
                    const fatal = Option.filter(
                      error,
                      (e): e is FatalError =>
                        isFatal(e) && !(e._tag === "ReauthorizationRequired" && e.reason === "NoToken")
                    )
                    return {
                      ...s,
                      inflight: Option.none(),
                      failure: fatal,
                      token: Option.isSome(fatal) && fatal.value._tag === "ReauthorizationRequired"
                        ? Option.none()
                        : s.token
                    }
                  })
                  const error = Cause.failureOption(failure)
                  if (Option.isSome(error)) {
                    yield* Metric.increment(Metric.tagged(refreshFailures, "error", error.value._tag))
                  }
                }
                yield* Deferred.done(deferred, exit)
              })
            ),
            Effect.forkIn(scope)
          )
          return [Deferred.await(deferred), { ...state, inflight: Option.some(deferred) }] as const
        })))

    // The hot path of every authorized request: no generator, no allocation when the token is usable.
    const token: Effect.Effect<Token, OAuthClientError> = Effect.flatMap(
      SubscriptionRef.get(ref),
      (state) =>
        Effect.clockWith((clock) => {
          if (isUsable(state, clock.unsafeCurrentTimeMillis())) return Effect.succeed(Option.getOrThrow(state.token))
          if (Option.isSome(state.failure)) return Effect.fail(state.failure.value)
          return shared(state.token)
        })
    )

    const setToken = (next: Token) =>
      Effect.gen(function*() {
        const current = (yield* SubscriptionRef.get(ref)).token
        // Versions only grow in a slot, so stores can refuse stale writes.
        const adopted = Option.isSome(current) && current.value.version >= next.version
          ? new Token({ ...next, version: current.value.version + 1 })
          : next
        yield* store.set(key, adopted)
        const now = yield* Clock.currentTimeMillis
        const refreshAt = yield* scheduleFor(adopted, now)
        yield* SubscriptionRef.update(ref, (s) => ({
          ...s,
          token: Option.some(adopted),
          refreshAt,
          failure: Option.none()
        }))
      }).pipe(annotate)

    const revoke = Effect.gen(function*() {
      const state = yield* SubscriptionRef.get(ref)
      yield* SubscriptionRef.update(ref, (s) => ({ ...s, token: Option.none(), refreshAt: Option.none() }))
      const local = store.remove(key)
      if (Option.isNone(state.token)) return yield* local
      const current = state.token.value
      yield* Effect.ensuring(
        endpoint.revoke(Option.getOrElse(current.refreshToken, () => current.accessToken), {
          hint: Option.isSome(current.refreshToken) ? "refresh_token" : "access_token"
        }),
        Effect.ignore(local)
      )
      yield* local
    }).pipe(
      Effect.withSpan("OAuthClient.revoke", {
        captureStackTrace: false,
        attributes: { "oauth.provider": provider.name }
      }),
      annotate
    )

    // The refresh fiber. Each turn reads the state and either sleeps until the current token's
    // refresh time, or refreshes it. Closing the layer's scope interrupts it.
    const waitForChange = (state: State) =>
      ref.changes.pipe(Stream.filter((next) => next !== state), Stream.take(1), Stream.runDrain)

    // While it sleeps, only a refresh time earlier than the one it sleeps toward wakes it: a later
    // one (every refresh makes one) is found when it wakes, so a busy slot does not re-arm a timer
    // for each new token.
    const waitForEarlier = (at: number) =>
      ref.changes.pipe(
        Stream.filter((next) => Option.isSome(next.refreshAt) && next.refreshAt.value < at),
        Stream.take(1),
        Stream.runDrain
      )

    const refresher = Effect.gen(function*() {
      let failures = 0
      while (true) {
        const state = yield* SubscriptionRef.get(ref)
        const idle = Option.isSome(state.failure) || Option.isNone(state.refreshAt) || Option.isSome(state.inflight)
        if (idle) {
          yield* waitForChange(state)
          continue
        }
        const now = yield* Clock.currentTimeMillis
        const at = Option.getOrThrow(state.refreshAt)
        const delay = Math.min(at - now, maxSleepMillis)
        // Timers count whole milliseconds: a fraction left would wake at once, again and again.
        if (delay >= 1) {
          yield* Effect.raceFirst(Effect.sleep(Duration.millis(delay)), waitForEarlier(at))
          continue
        }
        const result = yield* Effect.either(shared(state.token))
        if (result._tag === "Left" && !isFatal(result.left)) {
          yield* Effect.logWarning("background refresh failed; retrying", result.left.message)
          const backoff = Math.min(backoffBaseMillis * 2 ** failures++, backoffMaxMillis)
          const jitter = yield* Random.next
          yield* Effect.sleep(Duration.millis(backoff * (0.75 + jitter * 0.5)))
        } else {
          failures = 0
        }
      }
    }).pipe(
      annotate,
      Effect.withSpan("OAuthClient.refresher", {
        captureStackTrace: false,
        root: true
      }),
      Effect.interruptible
    )

    yield* Effect.forkIn(refresher, scope)

    return {
      key,
      provider,
      token,
      refresh: Effect.flatMap(SubscriptionRef.get(ref), (state) => shared(state.token)),
      invalidate: (stale: Token) =>
        Effect.flatMap(
          SubscriptionRef.get(ref),
          (state) =>
            Option.isSome(state.token) && state.token.value.version === stale.version &&
              state.token.value.accessToken === stale.accessToken
              ? shared(state.token)
              : token
        ),
      changes: ref.changes.pipe(
        Stream.map((state) => state.token),
        Stream.changesWith((a, b) => sameToken(a, b))
      ),
      // The server grants what the session's grant asks for: the types say which scopes those are.
      scopes: Effect.map(token, (t) => t.scopes as ScopeSet<GrantedScopes<P, Rules, Sess>>),
      setToken,
      revoke
    } satisfies Service<GrantedScopes<P, Rules, Sess>>
  })

const sameToken = (a: Option.Option<Token>, b: Option.Option<Token>): boolean =>
  Option.isNone(a) ? Option.isNone(b) : Option.isSome(b) && a.value === b.value

/**
 * A layer of one slot; its refresh fiber lives as long as the layer. It also provides
 * `Granted<S>` for the scopes the session's client can hold, so effects that need other scopes
 * (see `AuthorizedHttpClient.requireScopes`) do not compile against it; and literal
 * client-credentials scopes that break the provider's rules are a compile error here.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = <P extends string, Rules extends ScopeRules.ScopeRules<P>, Sess extends Session>(
  options: Options<P, Rules, Sess> & SessionCheck<Rules, Sess>
): Layer.Layer<
  OAuthClient | Granted.Granted<GrantedScopes<P, Rules, Sess>>,
  InvalidScopeRequest,
  HttpClient.HttpClient | TokenStore
> => Layer.merge(Layer.scoped(OAuthClient, make(options)), grantedLayer(options))

/**
 * Like {@link layer}, with the client read from configuration (see `ClientConfig.config`, which
 * reads the secret with `Config.redacted`).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = <P extends string, Rules extends ScopeRules.ScopeRules<P>, Sess extends Session>(
  options:
    & Omit<Options<P, Rules, Sess>, "client">
    & { readonly client: Config.Config<ClientConfig> }
    & SessionCheck<Rules, Sess>
): Layer.Layer<
  OAuthClient | Granted.Granted<GrantedScopes<P, Rules, Sess>>,
  InvalidScopeRequest | ConfigError.ConfigError,
  HttpClient.HttpClient | TokenStore
> =>
  Layer.merge(
    Layer.scoped(
      OAuthClient,
      Effect.flatMap(options.client, (client) => make<P, Rules, Session>({ ...options, client }))
    ),
    grantedLayer(options)
  )

// What `Granted` holds at run time: the scopes the layer was set up for (the session's request, or
// every scope of the provider for a user's session). The requirement itself lives in the types.
const grantedLayer = <P extends string, Rules extends ScopeRules.ScopeRules<P>, Sess extends Session>(
  options: { readonly provider: Provider<P, Rules>; readonly session: Sess }
): Layer.Layer<Granted.Granted<GrantedScopes<P, Rules, Sess>>> =>
  Granted.layer(
    (options.session._tag === "ClientCredentials"
      ? options.session.scopes
      : Either.getOrElse(fromIterable(options.provider.scopes), () => empty)) as ScopeSet<
        GrantedScopes<P, Rules, Sess>
      >
  )

/**
 * One `OAuthClient` per user id, for servers with many users. A user's client (and its refresh
 * fiber) lives while it is in use and is released after `idleTimeToLive` unused.
 *
 * @since 0.1.0
 * @category models
 */
export interface Registry {
  /** The user's client, held for the scope; released after `idleTimeToLive` once unused. */
  readonly get: (userId: string) => Effect.Effect<Service, InvalidScopeRequest, Scope.Scope>
}

/**
 * Builds a {@link Registry} in the current scope.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeRegistry = (
  options: Omit<Options, "session" | "key"> & { readonly idleTimeToLive?: Duration.DurationInput | undefined }
): Effect.Effect<Registry, never, HttpClient.HttpClient | TokenStore | Scope.Scope> =>
  Effect.gen(function*() {
    const context = yield* Effect.context<HttpClient.HttpClient | TokenStore>()
    const map = yield* RcMap.make({
      lookup: (userId: string) =>
        make<string, ScopeRules.ScopeRules<string>, UserSession>({ ...options, session: user(userId) }).pipe(
          Effect.provide(context)
        ),
      idleTimeToLive: options.idleTimeToLive ?? Duration.minutes(5)
    })
    return { get: (userId) => RcMap.get(map, userId) }
  })
