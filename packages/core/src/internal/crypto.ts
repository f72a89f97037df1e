// Base64 and random strings from WebCrypto, shared by PKCE, state, nonces, DPoP proofs and assertions.
import * as Effect from "effect/Effect"
import { ConfigurationError } from "../OAuthError.js"

export const base64 = (bytes: Uint8Array): string => {
  let binary = ""
  for (const byte of bytes) binary += String.fromCharCode(byte)
  return btoa(binary)
}

export const base64Url = (bytes: Uint8Array): string =>
  base64(bytes).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "")

// Browsers hide WebCrypto's `subtle` outside secure contexts; say so instead of dying on a TypeError.
export const unavailable = (what: string) =>
  new ConfigurationError({
    reason: "Environment",
    detail: `WebCrypto ${what} is not available: run on Node.js 20+ or, in a browser, on an https (or localhost) page`
  })

export const randomString = (bytes: number): Effect.Effect<string, ConfigurationError> =>
  Effect.suspend(() => {
    const crypto = globalThis.crypto
    if (crypto === undefined || typeof crypto.getRandomValues !== "function") {
      return Effect.fail(unavailable("crypto.getRandomValues"))
    }
    return Effect.succeed(base64Url(crypto.getRandomValues(new Uint8Array(bytes))))
  })
