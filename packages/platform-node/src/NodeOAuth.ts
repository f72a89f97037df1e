/**
 * Everything a Node application needs, at once or piece by piece: the HTTP client (undici), the
 * file token store, an `OAuthClient` for the user's session with its `AuthorizedHttpClient`, and a
 * `Login` service whose `login` returns the stored token when there is a usable one holding the
 * scopes it asks for, and runs the loopback login otherwise (or the device flow, with
 * `loginWithDevice`).
 *
 * @since 0.1.0
 */
import * as AuthorizedHttpClient from "@effect-oauth/core/AuthorizedHttpClient"
import type { ClientConfig } from "@effect-oauth/core/ClientConfig"
import type { GrantKind } from "@effect-oauth/core/Grant"
import type * as Granted from "@effect-oauth/core/Granted"
import * as OAuthClient from "@effect-oauth/core/OAuthClient"
import type { ConfigurationError, ScopeError, StoreError } from "@effect-oauth/core/OAuthError"
import type { Provider } from "@effect-oauth/core/Provider"
import type { ScopeRules } from "@effect-oauth/core/ScopeRules"
import { validate } from "@effect-oauth/core/ScopeRules"
import type { ScopeSet } from "@effect-oauth/core/Scopes"
import { empty, isSubset } from "@effect-oauth/core/Scopes"
import type { Token } from "@effect-oauth/core/Token"
import * as TokenEndpoint from "@effect-oauth/core/TokenEndpoint"
import type { TokenStore } from "@effect-oauth/core/TokenStore"
import * as NodeCommandExecutor from "@effect/platform-node/NodeCommandExecutor"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import type * as CommandExecutor from "@effect/platform/CommandExecutor"
import type * as HttpClient from "@effect/platform/HttpClient"
import type * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as DevicePrompt from "./DevicePrompt.js"
import * as FileTokenStore from "./FileTokenStore.js"
import * as LoopbackLogin from "./LoopbackLogin.js"

/**
 * The Node HTTP client for effect-oauth's layers (undici).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerHttpClient: Layer.Layer<HttpClient.HttpClient> = NodeHttpClient.layerUndici

/**
 * @since 0.1.0
 * @category models
 */
export interface Options<P extends string = string, Rules extends ScopeRules<P> = ScopeRules<P>, S extends P = P> {
  readonly provider: Provider<P, Rules>
  readonly client: ClientConfig
  /**
   * The scopes a login asks for (default: the provider's defaults); {@link layer} provides
   * `Granted` for these (and what the grant implies), not for every scope of the provider.
   */
  readonly scopes?: ScopeSet<S> | undefined
  /** The user's slot in the store (default `"default"`). */
  readonly userId?: string | undefined
  /** The file store's directory (default `FileTokenStore.defaultDirectory`). */
  readonly directory?: string | undefined
  /** The redirect URI registered with the provider (osu! needs its exact port). */
  readonly redirectUri?: string | undefined
  /** See `LoopbackLogin.Options.openBrowser`. */
  readonly openBrowser?: LoopbackLogin.Options["openBrowser"]
  /** How long a login waits for the user (default 5 minutes). */
  readonly loginTimeout?: Duration.DurationInput | undefined
  /** Where messages for the user go (default `Console.log`). */
  readonly print?: ((line: string) => Effect.Effect<void>) | undefined
}

/**
 * The errors of a login.
 *
 * @since 0.1.0
 * @category models
 */
export type LoginError = LoopbackLogin.LoginError | StoreError

/**
 * @since 0.1.0
 * @category tags
 */
export class Login extends Context.Tag("@effect-oauth/platform-node/NodeOAuth/Login")<Login, Login.Service>() {}

/**
 * @since 0.1.0
 * @category models
 */
export declare namespace Login {
  /**
   * Signing the user in.
   *
   * @since 0.1.0
   * @category models
   */
  export interface Service {
    /**
     * The stored token when it is usable (or refreshable) and holds the scopes a login asks for;
     * otherwise a loopback login (a scope added to `scopes` since the token was stored signs in again).
     */
    readonly login: Effect.Effect<Token, LoginError>
    /** Like `login`, with the device flow (RFC 8628) instead of the browser. */
    readonly loginWithDevice: Effect.Effect<Token, LoginError>
  }
}

/**
 * Signs the user in, unless a usable token holding the requested scopes is stored.
 *
 * @since 0.1.0
 * @category accessors
 */
export const login: Effect.Effect<Token, LoginError, Login> = Effect.flatMap(Login, (service) => service.login)

/**
 * Signs the user in with the device flow, unless a usable token holding the requested scopes is
 * stored.
 *
 * @since 0.1.0
 * @category accessors
 */
export const loginWithDevice: Effect.Effect<Token, LoginError, Login> = Effect.flatMap(
  Login,
  (service) => service.loginWithDevice
)

/**
 * The `Login` service over an `OAuthClient`: a new token goes to `OAuthClient.setToken`, which
 * persists it.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerLogin = (
  options: Omit<Options, "directory" | "userId">
): Layer.Layer<Login, never, OAuthClient.OAuthClient | HttpClient.HttpClient | CommandExecutor.CommandExecutor> =>
  Layer.effect(
    Login,
    Effect.gen(function*() {
      const client = yield* OAuthClient.OAuthClient
      const context = yield* Effect.context<HttpClient.HttpClient | CommandExecutor.CommandExecutor>()
      // A stored token holds what a login asks for (the request, or the grant's defaults, plus what
      // the server implies), or it was granted for less: a scope added since asks the user again.
      // A request the rules refuse holds nothing: the login then says why.
      const covers = (grant: GrantKind, token: Token) =>
        Either.match(validate(options.provider.scopeRules, grant, options.scopes ?? empty), {
          onLeft: () => false,
          onRight: (wanted) => isSubset(wanted, token.scopes)
        })
      // No usable token holding the scopes, and none to refresh: the user signs in, and the slot
      // keeps the result.
      const ensure = (
        grant: GrantKind,
        signIn: Effect.Effect<Token, LoginError, HttpClient.HttpClient>
      ): Effect.Effect<Token, LoginError> =>
        client.token.pipe(
          Effect.map(Option.some),
          Effect.catchTag("@effect-oauth/ReauthorizationRequired", () => Effect.succeedNone),
          Effect.flatMap((stored) =>
            Option.isSome(stored) && covers(grant, stored.value)
              ? Effect.succeed(stored.value)
              : Effect.tap(signIn, (token) => client.setToken(token))
          ),
          Effect.provide(context)
        )
      return {
        login: ensure(
          "AuthorizationCode",
          LoopbackLogin.login({
            provider: options.provider,
            client: options.client,
            scopes: options.scopes,
            redirectUri: options.redirectUri,
            openBrowser: options.openBrowser,
            timeout: options.loginTimeout,
            print: options.print
          })
        ),
        loginWithDevice: ensure(
          "DeviceCode",
          Effect.flatMap(
            TokenEndpoint.make({ provider: options.provider, client: options.client }),
            (endpoint) => DevicePrompt.login(endpoint, { scopes: options.scopes, print: options.print })
          )
        )
      }
    })
  )

/**
 * What {@link layer} provides.
 *
 * @since 0.1.0
 * @category models
 */
export type Services<P extends string, Rules extends ScopeRules<P> = ScopeRules<P>, S extends P = P> =
  | Login
  | OAuthClient.OAuthClient
  | Granted.Granted<Provider<P, Rules>, OAuthClient.LoginScopes<P, Rules, S>>
  | AuthorizedHttpClient.AuthorizedHttpClient
  | HttpClient.HttpClient
  | TokenStore

/**
 * Everything at once: Node's HTTP client, the file token store, the user's `OAuthClient` (with
 * `Granted<typeof provider, S>` for the `scopes` its login asks for, or the provider's defaults,
 * plus what the grant implies: see `OAuthClient.layerUser`), `AuthorizedHttpClient` and `Login`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = <P extends string, Rules extends ScopeRules<P>, S extends P = never>(
  options: Options<P, Rules, S>
): Layer.Layer<
  Services<P, Rules, S>,
  ConfigurationError | ScopeError
> => {
  const store = FileTokenStore.layerNode({ directory: options.directory })
  const client = OAuthClient.layerUser<P, Rules, S>({
    provider: options.provider,
    client: options.client,
    userId: options.userId,
    scopes: options.scopes
  })
  const commands = NodeCommandExecutor.layer.pipe(Layer.provide(NodeFileSystem.layer))
  return Layer.mergeAll(layerLogin(options), AuthorizedHttpClient.layer()).pipe(
    Layer.provideMerge(client),
    Layer.provideMerge(store),
    Layer.provideMerge(layerHttpClient),
    Layer.provide(commands)
  )
}

/**
 * Like {@link layer}, with the client read from configuration (`ClientConfig.config("OSU")` reads
 * `OSU_CLIENT_ID` and `OSU_CLIENT_SECRET`, the secret as `Redacted`).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = <P extends string, Rules extends ScopeRules<P>, S extends P = never>(
  options: Omit<Options<P, Rules, S>, "client"> & { readonly client: Config.Config<ClientConfig> }
): Layer.Layer<
  Services<P, Rules, S>,
  ConfigurationError | ScopeError | ConfigError.ConfigError
> => Layer.unwrapEffect(Effect.map(options.client, (client) => layer<P, Rules, S>({ ...options, client })))
