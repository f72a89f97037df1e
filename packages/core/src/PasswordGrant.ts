/**
 * The legacy resource-owner password grant (RFC 6749 §4.3).
 *
 * **Discouraged.** RFC 9700 (OAuth 2.0 Security Best Current Practice) says this grant MUST NOT be
 * used: it hands the user's password to the client and cannot carry multi-factor authentication.
 * It is here only for legacy servers that offer nothing else; prefer the authorization-code grant
 * with PKCE, or the device grant for devices without a browser.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import type * as Redacted from "effect/Redacted"
import type { Password } from "./Grant.js"
import type { ScopeSet } from "./Scopes.js"
import { empty } from "./Scopes.js"

/**
 * A password grant. Legacy and discouraged by RFC 9700: see the module's header.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: {
  readonly username: string
  readonly password: Redacted.Redacted<string>
  readonly scopes?: ScopeSet<string> | undefined
}): Password =>
  Data.struct({
    _tag: "Password",
    username: options.username,
    password: options.password,
    scopes: options.scopes ?? empty
  })
