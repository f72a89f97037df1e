/**
 * The stateful heart of effect-oauth: one `OAuthClient` keeps the token of one slot (a client, or a
 * client and a user), hands out a valid token to any number of fibers, refreshes it in the
 * background before it expires, persists every new token to the `TokenStore` before anyone uses
 * it, and reports what changed. A `Registry` keeps many users' slots of one client the same way.
 *
 * Several APIs side by side: `OAuthClient.Tag` and `AuthorizedHttpClient.Tag` make a tag of its
 * own for each (`class OsuApi extends AuthorizedHttpClient.Tag("OsuApi")<OsuApi>() {}`).
 *
 * How a refresh works:
 * - `token` returns the cached token while it is usable. When it is not, the caller joins the one
 *   token request in flight for the slot (or starts it): concurrent callers share one request, and a
 *   failed request is not cached — except what the server said: a `Retry-After` holds every caller
 *   and the refresh fiber until it ends (callers wait for it when it ends within `deadline`, else
 *   get `RateLimited` at once), and a fatal error is kept (a user slot's until a new login, a
 *   client-credentials slot's for a cool-down that doubles from 1 minute to 1 hour).
 * - One scheduler fiber per engine refreshes every slot from a queue ordered by refresh time:
 *   `expiresAt − lead − jitter`, the lead being min(60 s, max(10% of the lifetime, 2 × the slot's
 *   recent token-request duration)), never more than half the lifetime. Lifetimes count from when
 *   the successful request was sent. Transient failures are retried with backoff.
 * - A client-credentials slot re-runs its grant; a user slot spends its refresh token, keeps the
 *   old refresh token when the response has none, and on `invalid_grant` re-reads the store (another
 *   process may have rotated the token) before declaring that the user must sign in again.
 * - Every write to the store is a compare-and-set against the version the slot last read.
 *
 * @since 0.1.0
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import type * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import type * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import type { ClientConfig } from "./ClientConfig.js"
import * as Granted from "./Granted.js"
import type { IdTokenError } from "./IdToken.js"
import { makeEngine, serviceOf } from "./internal/client.js"
import * as Engine from "./internal/engine.js"
import type {
  ConfigurationError,
  ReauthorizationRequired,
  ScopeError,
  StoreError,
  TokenRequestError
} from "./OAuthError.js"
import type { Provider } from "./Provider.js"
import * as ScopeRules from "./ScopeRules.js"
import type { ScopeSet } from "./Scopes.js"
import { empty, format as formatScopes, fromIterable } from "./Scopes.js"
import type { Token } from "./Token.js"
import type { TokenStore } from "./TokenStore.js"

/**
 * Every error a caller of an `OAuthClient` can see.
 *
 * @since 0.1.0
 * @category models
 */
export type OAuthClientError =
  | TokenRequestError
  | ConfigurationError
  | IdTokenError
  | ReauthorizationRequired
  | ScopeError
  | StoreError

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
 * The scopes a user's login asking for `S` may hold, for a provider with scopes `P` and rules
 * `Rules`: what it asks for (the provider's defaults when `S` is `never`: nothing named), plus what
 * the authorization code grant implies (osu!'s `identify`). Scopes only known at run time (`S` is
 * `P`) may be any of the provider's.
 *
 * @since 0.1.0
 * @category type-level
 */
export type LoginScopes<P extends string, Rules, S extends P> = string extends S ? P
  : ScopeRules.Granted<Rules, "AuthorizationCode", S>

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
  /**
   * The most a refresh is moved ahead of expiry (default 60 seconds). Within it the lead is 10% of
   * the lifetime or twice the slot's recent token-request duration, whichever is longer, and never
   * more than half the lifetime.
   */
  readonly maxSkew?: Duration.DurationInput | undefined
  /** The least time between two refreshes of the slot, which bounds the refresh rate (default 500 ms). */
  readonly minRefreshInterval?: Duration.DurationInput | undefined
  /** The longest one token request attempt may take (default 10 seconds). */
  readonly attemptTimeout?: Duration.DurationInput | undefined
  /**
   * The longest a token request may take over all its attempts (default 60 seconds). It also bounds
   * how long a caller waits out the server's `Retry-After`: a longer one fails the caller at once
   * with `RateLimited`, carrying the time left.
   */
  readonly deadline?: Duration.DurationInput | undefined
  /**
   * How long a client-credentials slot keeps a fatal error (a refused grant, a rotated secret)
   * before the next caller or the refresh fiber tries once more (default 1 minute, doubling with
   * each failure up to `maxCoolDown`, default 1 hour). A user slot keeps it until a new login.
   */
  readonly coolDown?: Duration.DurationInput | undefined
  readonly maxCoolDown?: Duration.DurationInput | undefined
}

/**
 * One token slot. See the module's header for how it refreshes.
 *
 * @since 0.1.0
 * @category tags
 */
export class OAuthClient extends Context.Tag("@effect-oauth/core/OAuthClient")<OAuthClient, OAuthClient.Service>() {}

/**
 * @since 0.1.0
 * @category models
 */
export declare namespace OAuthClient {
  /**
   * The service of one token slot.
   *
   * @since 0.1.0
   * @category models
   */
  export interface Service<out S extends string = string> {
    readonly key: string
    readonly provider: Provider<string>
    /** The client's id at the provider (its rate limit is kept per provider and client). */
    readonly clientId: string
    /** A usable token: the cached one, or the result of the one refresh in flight. */
    readonly token: Effect.Effect<Token, OAuthClientError>
    /** Refreshes now (joining a refresh already in flight). */
    readonly refresh: Effect.Effect<Token, OAuthClientError>
    /**
     * Reports a token the server refused (a 401). If it is still the current token, one shared
     * refresh runs; if another fiber already replaced it, the current token is returned.
     */
    readonly invalidate: (stale: Token) => Effect.Effect<Token, OAuthClientError>
    /**
     * Reports a token the API refused again after a refresh: a user slot forgets it (the user signs in
     * again: later callers get `ReauthorizationRequired`), a client-credentials slot fetches a new one.
     */
    readonly drop: (stale: Token) => Effect.Effect<void>
    /** The current token (or none) now and after every change: the on-token-update hook. */
    readonly changes: Stream.Stream<Option.Option<Token>>
    /** The scopes of a usable token (typed by what the session's grant can hold). */
    readonly scopes: Effect.Effect<ScopeSet<S>, OAuthClientError>
    /** Hands the slot a token from an interactive login: persisted, clears a fatal failure, scheduled. */
    readonly setToken: (token: Token) => Effect.Effect<void, StoreError>
    /**
     * Revokes the tokens at the provider (RFC 7009, where it has an endpoint) and always deletes them
     * locally.
     */
    readonly revoke: Effect.Effect<void, TokenRequestError | ConfigurationError | StoreError>
  }
}

/**
 * Token requests by grant and outcome.
 *
 * @since 0.1.0
 * @category metrics
 */
export const tokenRequests: Metric.Metric.Counter<number> = Engine.tokenRequests

/**
 * Refreshes that failed, by error.
 *
 * @since 0.1.0
 * @category metrics
 */
export const refreshFailures: Metric.Metric.Counter<number> = Engine.refreshFailures

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
 * Builds the service of one slot and starts its refresh scheduler in the current scope: closing the
 * scope interrupts the scheduler and every request it started.
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
  OAuthClient.Service<GrantedScopes<P, Rules, Sess>>,
  ScopeError,
  HttpClient.HttpClient | TokenStore | Scope.Scope
> =>
  Effect.gen(function*() {
    const { client, provider, session } = options
    const key = options.key ?? defaultKey(provider, client, session)
    const clientCredentials = session._tag === "ClientCredentials"
      ? Option.some(yield* ScopeRules.validate(provider.scopeRules, "ClientCredentials", session.scopes))
      : Option.none()
    const engine = yield* makeEngine(options, clientCredentials, 1)
    const slot = yield* engine.open(key)
    return serviceOf<GrantedScopes<P, Rules, Sess>>(engine, key, slot, provider, client.clientId)
  })

/**
 * A layer of one slot; its refresh fiber lives as long as the layer. It also provides
 * `Granted<P, S>` for its provider `P` and the scopes `S` the session's client can hold, so
 * effects that need other scopes, or another provider's (see `AuthorizedHttpClient.requireScopes`),
 * do not compile against it; and literal
 * client-credentials scopes that break the provider's rules are a compile error here.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = <P extends string, Rules extends ScopeRules.ScopeRules<P>, Sess extends Session>(
  options: Options<P, Rules, Sess> & SessionCheck<Rules, Sess>
): Layer.Layer<
  OAuthClient | Granted.Granted<Provider<P, Rules>, GrantedScopes<P, Rules, Sess>>,
  ScopeError,
  HttpClient.HttpClient | TokenStore
> => Layer.merge(Layer.scoped(OAuthClient, make(options)), layerGranted(options))

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
  OAuthClient | Granted.Granted<Provider<P, Rules>, GrantedScopes<P, Rules, Sess>>,
  ScopeError | ConfigError.ConfigError,
  HttpClient.HttpClient | TokenStore
> =>
  Layer.merge(
    Layer.scoped(
      OAuthClient,
      Effect.flatMap(options.client, (client) => make<P, Rules, Session>({ ...options, client }))
    ),
    layerGranted(options)
  )

/**
 * The `Granted` scopes a slot's layer provides, keyed by its provider: the session's request, or
 * every scope of the provider for a user's session. The requirement itself lives in the types.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerGranted = <P extends string, Rules extends ScopeRules.ScopeRules<P>, Sess extends Session>(
  options: { readonly provider: Provider<P, Rules>; readonly session: Sess }
): Layer.Layer<Granted.Granted<Provider<P, Rules>, GrantedScopes<P, Rules, Sess>>> =>
  Granted.layer(
    options.provider,
    (options.session._tag === "ClientCredentials"
      ? options.session.scopes
      : Either.getOrElse(fromIterable(options.provider.scopes), () => empty)) as ScopeSet<
        GrantedScopes<P, Rules, Sess>
      >
  )

/**
 * A layer of one user's slot whose login asks for `scopes`: it provides `Granted<P, S>` for what
 * that login may hold (see {@link LoginScopes}) rather than for every scope of the provider, so
 * an effect that needs a scope the login does not ask for does not compile against it. The
 * platform layers (`NodeOAuth.layer`, `BrowserOAuth.layer`) are built on it.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerUser = <P extends string, Rules extends ScopeRules.ScopeRules<P>, S extends P = never>(
  options: Omit<Options<P, Rules, UserSession>, "session"> & {
    /** The user's slot (default `"default"`). */
    readonly userId?: string | undefined
    /** The scopes the user's login asks for (default: the provider's defaults). */
    readonly scopes?: ScopeSet<S> | undefined
  }
): Layer.Layer<
  OAuthClient | Granted.Granted<Provider<P, Rules>, LoginScopes<P, Rules, S>>,
  ScopeError,
  HttpClient.HttpClient | TokenStore
> =>
  Layer.merge(
    Layer.scoped(OAuthClient, make<P, Rules, UserSession>({ ...options, session: user(options.userId) })),
    Granted.layer(options.provider, (options.scopes ?? empty) as ScopeSet<LoginScopes<P, Rules, S>>)
  )

/**
 * A tag of its own for one slot, so an application can hold several side by side (one per
 * provider): `class OsuClient extends OAuthClient.Tag("OsuClient")<OsuClient>() {}`, built with
 * `OsuClient.layer({ provider, client, session })`.
 *
 * @since 0.1.0
 * @category tags
 */
export const Tag = <const Id extends string>(id: Id) => <Self>(): TagClass<Self, Id> => {
  const tag = Context.Tag(id)<Self, OAuthClient.Service>()
  return Object.assign(tag, {
    layer: <P extends string, Rules extends ScopeRules.ScopeRules<P>, Sess extends Session>(
      options: Options<P, Rules, Sess> & SessionCheck<Rules, Sess>
    ) => Layer.merge(Layer.scoped(tag, make(options)), layerGranted(options))
  })
}

/**
 * What {@link Tag} makes: a tag whose service is a slot, with a layer that builds it.
 *
 * @since 0.1.0
 * @category tags
 */
export interface TagClass<Self, Id extends string> extends Context.TagClass<Self, Id, OAuthClient.Service> {
  /** Builds the slot (see {@link layer}), and provides its `Granted` scopes. */
  readonly layer: <P extends string, Rules extends ScopeRules.ScopeRules<P>, Sess extends Session>(
    options: Options<P, Rules, Sess> & SessionCheck<Rules, Sess>
  ) => Layer.Layer<
    Self | Granted.Granted<Provider<P, Rules>, GrantedScopes<P, Rules, Sess>>,
    ScopeError,
    HttpClient.HttpClient | TokenStore
  >
}
