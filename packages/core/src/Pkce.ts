/**
 * Proof Key for Code Exchange (RFC 7636) with the S256 method only, from WebCrypto
 * (`globalThis.crypto`, in Node 20 and browsers). The `plain` method is never offered: it protects
 * nothing against an attacker who can read the authorization request.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { base64Url, randomString, unavailable } from "./internal/crypto.js"
import type { ConfigurationError } from "./OAuthError.js"

/**
 * A fresh code verifier: 32 random bytes, base64url-encoded into 43 characters of the RFC 7636
 * unreserved set (256 bits of entropy). Each run of the effect makes a new one.
 *
 * @since 0.1.0
 * @category constructors
 */
export const verifier: Effect.Effect<Redacted.Redacted<string>, ConfigurationError> = Effect.map(
  randomString(32),
  Redacted.make
)

/**
 * The S256 challenge of a verifier: BASE64URL(SHA256(ASCII(verifier))).
 *
 * @since 0.1.0
 * @category constructors
 */
export const challenge = (codeVerifier: Redacted.Redacted<string>): Effect.Effect<string, ConfigurationError> =>
  Effect.suspend(() => {
    const subtle = globalThis.crypto?.subtle
    if (subtle === undefined) return Effect.fail(unavailable("crypto.subtle"))
    return Effect.tryPromise({
      try: () => subtle.digest("SHA-256", new TextEncoder().encode(Redacted.value(codeVerifier))),
      catch: () => unavailable("SHA-256 digest")
    })
  }).pipe(Effect.map((digest) => base64Url(new Uint8Array(digest))))

/**
 * A PKCE pair. The method is always `S256`, and is always sent explicitly (osu!'s server assumes
 * `plain` when it is left out).
 *
 * @since 0.1.0
 * @category models
 */
export interface Pkce {
  readonly verifier: Redacted.Redacted<string>
  readonly challenge: string
  readonly method: "S256"
}

/**
 * A fresh verifier and its S256 challenge; each run of the effect makes a new pair.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<Pkce, ConfigurationError> = Effect.flatMap(
  verifier,
  (v) => Effect.map(challenge(v), (c): Pkce => ({ verifier: v, challenge: c, method: "S256" }))
)
