/**
 * How a token is obtained, as data. The `TokenEndpoint` turns a grant into its form body and adds
 * the client's authentication per the provider's method.
 *
 * The legacy password grant lives in its own module, `PasswordGrant`, because RFC 9700 says not
 * to use it.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import type { ScopeSet } from "./Scopes.js"

/**
 * The client-credentials grant (RFC 6749 §4.4): the client acts on its own behalf.
 *
 * @since 0.1.0
 * @category models
 */
export interface ClientCredentials {
  readonly _tag: "ClientCredentials"
  readonly scopes: ScopeSet<string>
}

/**
 * The authorization-code grant's exchange (RFC 6749 §4.1.3 with RFC 7636 PKCE). `redirectUri` is
 * the one stored with the login's transaction.
 *
 * @since 0.1.0
 * @category models
 */
export interface AuthorizationCode {
  readonly _tag: "AuthorizationCode"
  readonly code: Redacted.Redacted<string>
  readonly codeVerifier: Redacted.Redacted<string>
  readonly redirectUri: string
}

/**
 * The refresh-token grant (RFC 6749 §6). `scopes`, when given, may narrow the granted set; it
 * never widens it.
 *
 * @since 0.1.0
 * @category models
 */
export interface RefreshToken {
  readonly _tag: "RefreshToken"
  readonly refreshToken: Redacted.Redacted<string>
  readonly scopes: Option.Option<ScopeSet<string>>
}

/**
 * The device-code grant's token request (RFC 8628 §3.4).
 *
 * @since 0.1.0
 * @category models
 */
export interface DeviceCode {
  readonly _tag: "DeviceCode"
  readonly deviceCode: Redacted.Redacted<string>
}

/**
 * The legacy resource-owner password grant (RFC 6749 §4.3). Construct it with
 * `PasswordGrant.make`; RFC 9700 says not to use it.
 *
 * @since 0.1.0
 * @category models
 */
export interface Password {
  readonly _tag: "Password"
  readonly username: string
  readonly password: Redacted.Redacted<string>
  readonly scopes: ScopeSet<string>
}

/**
 * @since 0.1.0
 * @category models
 */
export type Grant = ClientCredentials | AuthorizationCode | RefreshToken | DeviceCode | Password

/**
 * The name of a kind of grant, as scope rules refer to them.
 *
 * @since 0.1.0
 * @category models
 */
export type GrantKind = Grant["_tag"]

/**
 * @since 0.1.0
 * @category constructors
 */
export const ClientCredentials = (scopes: ScopeSet<string>): ClientCredentials =>
  Data.struct({ _tag: "ClientCredentials", scopes })

/**
 * @since 0.1.0
 * @category constructors
 */
export const AuthorizationCode = (options: {
  readonly code: Redacted.Redacted<string>
  readonly codeVerifier: Redacted.Redacted<string>
  readonly redirectUri: string
}): AuthorizationCode => Data.struct({ _tag: "AuthorizationCode", ...options })

/**
 * @since 0.1.0
 * @category constructors
 */
export const RefreshToken = (
  refreshToken: Redacted.Redacted<string>,
  scopes: Option.Option<ScopeSet<string>> = Option.none()
): RefreshToken => Data.struct({ _tag: "RefreshToken", refreshToken, scopes })

/**
 * @since 0.1.0
 * @category constructors
 */
export const DeviceCode = (deviceCode: Redacted.Redacted<string>): DeviceCode =>
  Data.struct({ _tag: "DeviceCode", deviceCode })
