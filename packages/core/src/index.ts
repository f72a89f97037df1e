/**
 * The core of effect-oauth: grants, scopes and their rules, typed errors, the token endpoint, token stores,
 * `OAuthClient` with its refresh fiber, `AuthorizedHttpClient`, discovery; OpenID Connect (`IdToken`, `UserInfo`),
 * introspection, DPoP and signed client assertions in modules of their own. Runtime-independent.
 *
 * @packageDocumentation
 */

/**
 * @since 0.1.0
 */
export * as Authorization from "./Authorization.js"

/**
 * @since 0.1.0
 */
export * as AuthorizedHttpClient from "./AuthorizedHttpClient.js"

/**
 * @since 0.1.0
 */
export * as ClientAssertion from "./ClientAssertion.js"

/**
 * @since 0.1.0
 */
export * as ClientConfig from "./ClientConfig.js"

/**
 * @since 0.1.0
 */
export * as DeviceAuthorization from "./DeviceAuthorization.js"

/**
 * @since 0.1.0
 */
export * as Discovery from "./Discovery.js"

/**
 * @since 0.1.0
 */
export * as Dpop from "./Dpop.js"

/**
 * @since 0.1.0
 */
export * as Grant from "./Grant.js"

/**
 * @since 0.1.0
 */
export * as Granted from "./Granted.js"

/**
 * @since 0.1.0
 */
export * as IdToken from "./IdToken.js"

/**
 * @since 0.1.0
 */
export * as Introspection from "./Introspection.js"

/**
 * @since 0.1.0
 */
export * as OAuthClient from "./OAuthClient.js"

/**
 * @since 0.1.0
 */
export * as OAuthError from "./OAuthError.js"

/**
 * @since 0.1.0
 */
export * as PasswordGrant from "./PasswordGrant.js"

/**
 * @since 0.1.0
 */
export * as Pkce from "./Pkce.js"

/**
 * @since 0.1.0
 */
export * as Provider from "./Provider.js"

/**
 * @since 0.1.0
 */
export * as RateLimit from "./RateLimit.js"

/**
 * @since 0.1.0
 */
export * as Registry from "./Registry.js"

/**
 * @since 0.1.0
 */
export * as ScopeRules from "./ScopeRules.js"

/**
 * @since 0.1.0
 */
export * as Scopes from "./Scopes.js"

/**
 * @since 0.1.0
 */
export * as Token from "./Token.js"

/**
 * @since 0.1.0
 */
export * as TokenEndpoint from "./TokenEndpoint.js"

/**
 * @since 0.1.0
 */
export * as TokenResponse from "./TokenResponse.js"

/**
 * @since 0.1.0
 */
export * as TokenStore from "./TokenStore.js"

/**
 * @since 0.1.0
 */
export * as UserInfo from "./UserInfo.js"
