/**
 * effect-oauth in a single-page app: the redirect login with PKCE, its completion on the callback
 * page, the session's `OAuthClient` and `AuthorizedHttpClient` over `fetch`, and logout.
 *
 * `login` keeps the transaction (state, PKCE verifier) in `sessionStorage` under its state and sends
 * the page to the authorization URL. `completeLogin(location)` on the callback page takes the
 * transaction for the callback's state (once: a replayed callback finds none), checks the callback
 * (BEHAVIOUR.md §5), exchanges the code, stores the token, and removes `code`, `state`, `iss` and any
 * fragment from the address bar with `history.replaceState`, whatever the outcome.
 *
 * Tabs share a session only through a store they share (`localStorage`); with memory or
 * `sessionStorage` each tab's session is its own. No token ever passes between tabs otherwise.
 *
 * @since 0.1.0
 */
import * as Authorization from "@effect-oauth/core/Authorization"
import * as AuthorizedHttpClient from "@effect-oauth/core/AuthorizedHttpClient"
import type { ClientConfig } from "@effect-oauth/core/ClientConfig"
import type * as Granted from "@effect-oauth/core/Granted"
import type { IdTokenError } from "@effect-oauth/core/IdToken"
import * as OAuthClient from "@effect-oauth/core/OAuthClient"
import type { ScopeError, StoreError, TokenRequestError } from "@effect-oauth/core/OAuthError"
import { AuthorizationError, ConfigurationError } from "@effect-oauth/core/OAuthError"
import type { Provider } from "@effect-oauth/core/Provider"
import type { ScopeRules } from "@effect-oauth/core/ScopeRules"
import type { ScopeSet } from "@effect-oauth/core/Scopes"
import type { Token } from "@effect-oauth/core/Token"
import * as TokenEndpoint from "@effect-oauth/core/TokenEndpoint"
import * as TokenStore from "@effect-oauth/core/TokenStore"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as HttpClient from "@effect/platform/HttpClient"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as TabCoordination from "./TabCoordination.js"
import * as WebTokenStore from "./WebTokenStore.js"

/**
 * The browser HTTP client for effect-oauth's layers (`fetch`). The token endpoint asks `fetch` not
 * to follow redirects (`redirect: "manual"`), so a redirect from a token endpoint is refused. Trace
 * propagation is off: a `traceparent` header on a cross-origin request needs a CORS preflight that
 * third-party APIs (Spotify's, osu!'s) do not allow.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerHttpClient: Layer.Layer<HttpClient.HttpClient> = Layer.effect(
  HttpClient.HttpClient,
  Effect.map(HttpClient.HttpClient, HttpClient.withTracerPropagation(false))
).pipe(Layer.provide(FetchHttpClient.layer))

/**
 * Where the session's token is kept, with what that store needs beside it: {@link memory} (the
 * default; gone with the page), {@link sessionStorage} (survives reloads of the tab) or
 * {@link localStorage} (every tab, until logout; readable by any script of the origin — see the
 * README). Each is a value of its own, so a bundle keeps only the store it names.
 *
 * @since 0.1.0
 * @category models
 */
export interface Store {
  /** The session's `TokenStore` (and whatever else the store provides). */
  readonly layer: Layer.Layer<TokenStore.TokenStore>
  /** Runs for as long as the session, beside its `OAuthClient` (the tabs following each other). */
  readonly follow?: Layer.Layer<never, never, OAuthClient.OAuthClient> | undefined
}

/**
 * The token in memory: the session ends with the page, and nothing is written anywhere.
 *
 * @since 0.1.0
 * @category stores
 */
export const memory: Store = { layer: TokenStore.layerMemory }

/**
 * The token in `sessionStorage`: the tab's own; the session survives a reload of the tab and ends with it.
 *
 * @since 0.1.0
 * @category stores
 */
export const sessionStorage: Store = { layer: /* @__PURE__ */ WebTokenStore.layerSessionStorage() }

/**
 * The token in `localStorage`: every tab of the origin, until logout, readable by any script of the
 * origin (an explicit opt-in; see the README). With `crossTab` (the default) the tabs refresh one at
 * a time and each re-reads the store when another announces a new token (`TabCoordination`).
 *
 * @since 0.1.0
 * @category stores
 */
export const localStorage = (options?: {
  /** One refresh at a time across the tabs, and word of each new token (default true). */
  readonly crossTab?: boolean | undefined
}): Store => {
  const base = WebTokenStore.layerLocalStorage()
  if (options?.crossTab === false) return { layer: base }
  const coordinated = TabCoordination.layer().pipe(Layer.provide(base))
  return {
    layer: coordinated,
    follow: Layer.scopedDiscard(Effect.flatMap(OAuthClient.OAuthClient, TabCoordination.follow)).pipe(
      Layer.provide(coordinated)
    )
  }
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Options<P extends string = string, Rules extends ScopeRules<P> = ScopeRules<P>, S extends P = P> {
  readonly provider: Provider<P, Rules>
  /** A public client (no secret) in a browser. */
  readonly client: ClientConfig
  /**
   * The scopes a login asks for (default: the provider's defaults); the layer provides `Granted`
   * for these (and what the grant implies), not for every scope of the provider.
   */
  readonly scopes?: ScopeSet<S> | undefined
  /** The callback page's URL, registered with the provider. */
  readonly redirectUri: string
  /** Where the token is kept (default {@link memory}). */
  readonly store?: Store | undefined
  /** The user's slot in the store (default `"default"`). */
  readonly userId?: string | undefined
  /** How the page is sent to the authorization server (default `window.location.assign`). */
  readonly navigate?: ((url: string) => Effect.Effect<void>) | undefined
}

/**
 * The errors of `completeLogin`.
 *
 * @since 0.1.0
 * @category models
 */
export type CompleteLoginError =
  | AuthorizationError
  | TokenRequestError
  | ConfigurationError
  | IdTokenError
  | StoreError

/**
 * @since 0.1.0
 * @category tags
 */
export class BrowserOAuth
  extends Context.Tag("@effect-oauth/platform-browser/BrowserOAuth")<BrowserOAuth, BrowserOAuth.Service>()
{}

/**
 * @since 0.1.0
 * @category models
 */
export declare namespace BrowserOAuth {
  /**
   * @since 0.1.0
   * @category models
   */
  export interface Service {
    /** Keeps the transaction in `sessionStorage` and sends the page to the authorization URL. */
    readonly login: (
      options?: {
        readonly scopes?: ScopeSet<string> | undefined
        readonly extraParams?: Readonly<Record<string, string>> | undefined
      }
    ) => Effect.Effect<void, ConfigurationError | ScopeError>
    /** Completes the login on the callback page (see the module's description). */
    readonly completeLogin: (location: string | URL | Location) => Effect.Effect<Token, CompleteLoginError>
    /** Whether `location` is a callback to complete (it carries `state` and a `code` or an `error`). */
    readonly isCallback: (location: string | URL | Location) => boolean
    /** Revokes the tokens at the provider (where it can) and always forgets them here. */
    readonly logout: Effect.Effect<void, TokenRequestError | ConfigurationError | StoreError>
  }
}

/**
 * Starts a login: the page leaves for the authorization server.
 *
 * @since 0.1.0
 * @category accessors
 */
export const login = (
  options?: Parameters<BrowserOAuth.Service["login"]>[0]
): Effect.Effect<void, ConfigurationError | ScopeError, BrowserOAuth> =>
  Effect.flatMap(BrowserOAuth, (service) => service.login(options))

/**
 * Completes a login on the callback page.
 *
 * @since 0.1.0
 * @category accessors
 */
export const completeLogin = (
  location: string | URL | Location
): Effect.Effect<Token, CompleteLoginError, BrowserOAuth> =>
  Effect.flatMap(BrowserOAuth, (service) => service.completeLogin(location))

/**
 * Logs out: revocation where the provider supports it, the local token always deleted.
 *
 * @since 0.1.0
 * @category accessors
 */
export const logout: Effect.Effect<void, TokenRequestError | ConfigurationError | StoreError, BrowserOAuth> =
  /* @__PURE__ */ Effect.flatMap(BrowserOAuth, (service) => service.logout)

/**
 * The `sessionStorage` key of a pending login's transaction.
 *
 * @since 0.1.0
 * @category utils
 */
export const transactionKey = (state: string): string => `effect-oauth/login/${state}`

const TransactionJson = Schema.parseJson(Authorization.Transaction)
const encodeTransaction = Schema.encodeSync(TransactionJson)
const decodeTransaction = Schema.decodeUnknownEither(TransactionJson)

/** How long a login may take between `login` and its callback (10 minutes, by the `Clock`). */
const transactionTimeToLive = 10 * 60 * 1000

/** The callback parameters that leave the address bar once read. */
const callbackParams = ["code", "state", "iss", "error", "error_description", "error_uri", "session_state"]

const hrefOf = (location: string | URL | Location): string => typeof location === "string" ? location : location.href

const sessionStorageOf = (): Option.Option<Storage> =>
  Option.fromNullable((globalThis as { readonly sessionStorage?: Storage }).sessionStorage)

/** Takes the transaction of `state` out of `sessionStorage`: it is used once. */
const takeTransaction = (state: string): Option.Option<Authorization.Transaction> =>
  Option.flatMap(sessionStorageOf(), (storage) => {
    const key = transactionKey(state)
    const text = storage.getItem(key)
    storage.removeItem(key)
    return text === null ? Option.none() : Option.getRight(decodeTransaction(text))
  })

const cleanAddressBar = (href: string) =>
  Effect.sync(() => {
    const history = (globalThis as { readonly history?: History }).history
    const current = (globalThis as { readonly location?: Location }).location
    if (history === undefined || current === undefined || current.href !== href) return
    const url = new URL(href)
    for (const param of callbackParams) url.searchParams.delete(param)
    // A fragment on a callback page is never the app's (redirect URIs have none): it is a server's,
    // or a forged response's, and may hold a token.
    url.hash = ""
    history.replaceState(history.state, "", url.toString())
  })

const navigateTo = (url: string) =>
  Effect.sync(() => {
    ;(globalThis as { readonly location: Location }).location.assign(url)
  })

/**
 * The `BrowserOAuth` service over an `OAuthClient` (its `setToken` stores the new token).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: Omit<Options, "store" | "userId">
): Effect.Effect<BrowserOAuth.Service, never, OAuthClient.OAuthClient | HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const client = yield* OAuthClient.OAuthClient
    const endpoint = yield* TokenEndpoint.make({ provider: options.provider, client: options.client })
    const navigate = options.navigate ?? navigateTo

    const isCallback = (location: string | URL | Location) => {
      const url = new URL(hrefOf(location))
      return url.searchParams.has("state") && (url.searchParams.has("code") || url.searchParams.has("error"))
    }

    const completeLogin = (location: string | URL | Location) => {
      const href = hrefOf(location)
      return Effect.gen(function*() {
        const url = new URL(href)
        const state = url.searchParams.get("state")
        if (state === null) return yield* new AuthorizationError({ reason: "MissingState" })
        const now = yield* Clock.currentTimeMillis
        // A login left unfinished for longer than its time to live is as good as unknown.
        const transaction = Option.filter(takeTransaction(state), (t) => now - t.createdAt <= transactionTimeToLive)
        if (Option.isNone(transaction)) return yield* new AuthorizationError({ reason: "StateMismatch" })
        const token = yield* Authorization.complete(endpoint, transaction.value, url)
        yield* client.setToken(token)
        return token
      }).pipe(Effect.ensuring(cleanAddressBar(href)))
    }

    return {
      login: (loginOptions) =>
        Effect.gen(function*() {
          const started = yield* Authorization.start({
            provider: options.provider,
            client: options.client,
            redirectUri: options.redirectUri,
            scopes: loginOptions?.scopes ?? options.scopes,
            extraParams: loginOptions?.extraParams,
            endpoint
          })
          const storage = sessionStorageOf()
          if (Option.isNone(storage)) {
            return yield* new ConfigurationError({
              reason: "Environment",
              detail: "sessionStorage is not available to keep the login"
            })
          }
          const stored = Either.try(() =>
            storage.value.setItem(
              transactionKey(Redacted.value(started.transaction.state)),
              encodeTransaction(started.transaction)
            )
          )
          if (Either.isLeft(stored)) {
            return yield* new ConfigurationError({
              reason: "Environment",
              detail: "sessionStorage refused the login transaction (full?)"
            })
          }
          yield* navigate(started.url)
        }),
      completeLogin,
      isCallback,
      logout: client.revoke
    } satisfies BrowserOAuth.Service
  })

/**
 * What {@link layerWith} provides.
 *
 * @since 0.1.0
 * @category models
 */
export type Services<P extends string, Rules extends ScopeRules<P> = ScopeRules<P>, S extends P = P> =
  | BrowserOAuth
  | OAuthClient.OAuthClient
  | Granted.Granted<Provider<P, Rules>, OAuthClient.LoginScopes<P, Rules, S>>
  | AuthorizedHttpClient.AuthorizedHttpClient
  | TokenStore.TokenStore

/**
 * Everything a SPA needs, over the `HttpClient` it is given: the store, the session's `OAuthClient`
 * (with `Granted<typeof provider, S>` for the `scopes` its login asks for, or the provider's
 * defaults, plus what the grant implies: see `OAuthClient.layerUser`), `AuthorizedHttpClient` and
 * `BrowserOAuth`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerWith = <P extends string, Rules extends ScopeRules<P>, S extends P = never>(
  options: Options<P, Rules, S>
): Layer.Layer<Services<P, Rules, S>, ScopeError, HttpClient.HttpClient> => {
  const store = options.store ?? memory
  const client = OAuthClient.layerUser<P, Rules, S>({
    provider: options.provider,
    client: options.client,
    userId: options.userId,
    scopes: options.scopes
  })
  return Layer.mergeAll(
    Layer.effect(BrowserOAuth, make(options)),
    AuthorizedHttpClient.layer(),
    store.follow ?? Layer.empty
  )
    .pipe(Layer.provideMerge(client), Layer.provideMerge(store.layer))
}

/**
 * {@link layerWith} over `fetch`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = <P extends string, Rules extends ScopeRules<P>, S extends P = never>(
  options: Options<P, Rules, S>
): Layer.Layer<Services<P, Rules, S> | HttpClient.HttpClient, ScopeError> =>
  layerWith(options).pipe(Layer.provideMerge(layerHttpClient))
