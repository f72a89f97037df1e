/**
 * Proof Key for Code Exchange (RFC 7636) with the S256 method only, from WebCrypto
 * (`globalThis.crypto`, in Node 20 and browsers).
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"

/**
 * Base64url without padding (RFC 4648 §5).
 *
 * @since 0.1.0
 * @category encoding
 */
export const base64Url = (bytes: Uint8Array): string => {
  let binary = ""
  for (const byte of bytes) binary += String.fromCharCode(byte)
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "")
}

/**
 * `bytes` random bytes from `crypto.getRandomValues`, base64url-encoded.
 *
 * @since 0.1.0
 * @category constructors
 */
export const randomString = (bytes: number): Effect.Effect<string> =>
  Effect.sync(() => base64Url(globalThis.crypto.getRandomValues(new Uint8Array(bytes))))

/**
 * A code verifier: 32 random bytes, 43 characters of the RFC 7636 unreserved set.
 *
 * @since 0.1.0
 * @category constructors
 */
export const verifier: Effect.Effect<Redacted.Redacted<string>> = Effect.map(randomString(32), Redacted.make)

/**
 * The S256 challenge of a verifier: BASE64URL(SHA256(verifier)).
 *
 * @since 0.1.0
 * @category constructors
 */
export const challenge = (codeVerifier: Redacted.Redacted<string>): Effect.Effect<string> =>
  Effect.promise(() =>
    globalThis.crypto.subtle.digest("SHA-256", new TextEncoder().encode(Redacted.value(codeVerifier)))
  ).pipe(Effect.map((digest) => base64Url(new Uint8Array(digest))))

/**
 * A PKCE pair.
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
 * A fresh verifier and its S256 challenge.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<Pkce> = Effect.flatMap(
  verifier,
  (v) => Effect.map(challenge(v), (c) => ({ verifier: v, challenge: c, method: "S256" as const }))
)
