/**
 * `TokenStore.encrypted`: AES-256-GCM (WebCrypto) around any driver. The driver keeps a stand-in
 * token whose access token is the sealed envelope `eo1.<key id>.<iv>.<ciphertext>` and whose
 * version is the real one, so its own compare-and-set and refresh lock work unchanged; nothing
 * else of the token (not even its lifetime or scopes) is visible in the store.
 *
 * @internal
 */
import type * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { ConfigurationError, StoreError } from "../OAuthError.js"
import { empty as emptyScopes } from "../Scopes.js"
import { Token } from "../Token.js"
import type { Expectation, SetResult } from "../TokenStore.js"
import { conflict, decodeStored, encodeStored, TokenStore } from "../TokenStore.js"
import { logCorrupt } from "./corruptValue.js"

/** One key: its id (stored with every value it encrypts) and 32 bytes in base64 or base64url. */
export interface Key {
  readonly id: string
  readonly key: Redacted.Redacted<string> | Config.Config<Redacted.Redacted<string>>
}

/** The key that encrypts, and older ones that still decrypt during a rotation. */
export interface Keys {
  readonly current: Key
  readonly previous?: ReadonlyArray<Key> | undefined
}

const envelopePrefix = "eo1"
const idPattern = /^[A-Za-z0-9_-]{1,64}$/

const base64url = (bytes: Uint8Array): string => {
  let binary = ""
  for (const byte of bytes) binary += String.fromCharCode(byte)
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "")
}

const fromBase64 = (text: string): Option.Option<Uint8Array<ArrayBuffer>> => {
  const normalized = text.trim().replace(/-/g, "+").replace(/_/g, "/")
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(normalized)) return Option.none()
  try {
    const binary = atob(normalized.padEnd(Math.ceil(normalized.length / 4) * 4, "="))
    return Option.some(Uint8Array.from(binary, (char) => char.charCodeAt(0)))
  } catch {
    return Option.none()
  }
}

// The slot key (and the key id) are authenticated with every value: a value copied to another
// slot does not decrypt there.
const additionalData = (id: string, slot: string) =>
  new TextEncoder().encode(`effect-oauth/encrypted-token/v1\n${id}\n${slot}`)

const importKeys = (keys: Keys): Effect.Effect<ReadonlyMap<string, CryptoKey>, ConfigurationError> =>
  Effect.gen(function*() {
    const all = [keys.current, ...(keys.previous ?? [])]
    const imported = new Map<string, CryptoKey>()
    for (const { id, key } of all) {
      if (!idPattern.test(id)) {
        return yield* new ConfigurationError({
          reason: "InvalidOption",
          detail: `the encryption key id ${JSON.stringify(id)} must be 1 to 64 letters, digits, "_" or "-"`
        })
      }
      if (imported.has(id)) {
        return yield* new ConfigurationError({
          reason: "InvalidOption",
          detail: `two encryption keys have the id "${id}": give each its own`
        })
      }
      const secret = Redacted.isRedacted(key) ? key : yield* key.pipe(
        Effect.mapError((error) =>
          new ConfigurationError({
            reason: "InvalidOption",
            detail: `the encryption key "${id}" could not be read from the configuration: ${error.message}`
          })
        )
      )
      const bytes = fromBase64(Redacted.value(secret))
      if (Option.isNone(bytes) || bytes.value.length !== 32) {
        return yield* new ConfigurationError({
          reason: "InvalidOption",
          detail: `the encryption key "${id}" is not 32 bytes in base64 (make one with ` +
            "`openssl rand -base64 32`)"
        })
      }
      const cryptoKey = yield* Effect.tryPromise({
        try: () => globalThis.crypto.subtle.importKey("raw", bytes.value, "AES-GCM", false, ["encrypt", "decrypt"]),
        catch: () =>
          new ConfigurationError({
            reason: "InvalidOption",
            detail: `the encryption key "${id}" cannot be used for AES-256-GCM`
          })
      })
      imported.set(id, cryptoKey)
    }
    return imported
  })

/** Wraps `inner` so that it stores every token encrypted. */
export const make = (inner: TokenStore.Service, keys: Keys): Effect.Effect<TokenStore.Service, ConfigurationError> =>
  Effect.map(importKeys(keys), (cryptoKeys) => {
    const currentId = keys.current.id
    const currentKey = cryptoKeys.get(currentId)!

    const seal = (slot: string, token: Token): Effect.Effect<Token, StoreError> =>
      Either.match(encodeStored(token), {
        onLeft: (problem) =>
          Effect.fail(
            new StoreError({ reason: "Set", detail: `the token cannot be stored: ${problem.detail}` })
          ),
        onRight: (plaintext) =>
          Effect.tryPromise({
            try: async () => {
              const iv = globalThis.crypto.getRandomValues(new Uint8Array(12))
              const sealed = await globalThis.crypto.subtle.encrypt(
                { name: "AES-GCM", iv, additionalData: additionalData(currentId, slot) },
                currentKey,
                new TextEncoder().encode(plaintext)
              )
              return new Token({
                accessToken: Redacted.make(
                  `${envelopePrefix}.${currentId}.${base64url(iv)}.${base64url(new Uint8Array(sealed))}`
                ),
                tokenType: "Bearer",
                refreshToken: Option.none(),
                expiresAt: Option.none(),
                issuedAt: 0,
                scopes: emptyScopes,
                version: token.version
              })
            },
            catch: () => new StoreError({ reason: "Set", detail: "the token could not be encrypted" })
          })
      })

    const corrupt = (slot: string, detail: string) => Effect.as(logCorrupt(slot, detail), Option.none<Token>())

    const open = (slot: string, stored: Token): Effect.Effect<Option.Option<Token>> => {
      const parts = Redacted.value(stored.accessToken).split(".")
      if (parts.length !== 4 || parts[0] !== envelopePrefix) {
        return corrupt(slot, "the value is not encrypted (written without TokenStore.encrypted?)")
      }
      const [, id, ivText, sealedText] = parts as [string, string, string, string]
      const key = cryptoKeys.get(id)
      if (key === undefined) {
        return corrupt(slot, `the value was encrypted with the unknown key "${id.slice(0, 64)}"`)
      }
      const iv = fromBase64(ivText)
      const sealed = fromBase64(sealedText)
      if (Option.isNone(iv) || Option.isNone(sealed) || iv.value.length !== 12) {
        return corrupt(slot, "the encrypted value is malformed")
      }
      return Effect.tryPromise(() =>
        globalThis.crypto.subtle.decrypt(
          { name: "AES-GCM", iv: iv.value, additionalData: additionalData(id, slot) },
          key,
          sealed.value
        )
      ).pipe(
        Effect.option,
        Effect.flatMap(Option.match({
          onNone: () => corrupt(slot, `the value does not decrypt with key "${id}" (another slot's value, or altered)`),
          onSome: (plaintext) =>
            Either.match(decodeStored(new TextDecoder().decode(plaintext)), {
              onLeft: (problem) => corrupt(slot, `the decrypted value is unreadable: ${problem.detail}`),
              onRight: (token) =>
                token.version === stored.version
                  ? Effect.succeedSome(token)
                  : corrupt(slot, "the decrypted version does not match the stored one (altered)")
            })
        }))
      )
    }

    const openOption = (slot: string, stored: Option.Option<Token>) =>
      Option.match(stored, { onNone: () => Effect.succeedNone, onSome: (sealed) => open(slot, sealed) })

    // A conflict answers what the wrapped store holds: the caller gets it opened, as a read would.
    const openResult = (slot: string) => (result: SetResult): Effect.Effect<SetResult> =>
      result._tag === "Written" ? Effect.succeed(result) : Effect.map(openOption(slot, result.current), conflict)

    return TokenStore.of({
      get: (slot) => Effect.flatMap(inner.get(slot), (stored) => openOption(slot, stored)),
      set: (slot: string, token: Token, expected: Expectation) =>
        Effect.flatMap(seal(slot, token), (sealed) => inner.set(slot, sealed, expected)).pipe(
          Effect.flatMap(openResult(slot))
        ),
      remove: (slot, expected) => Effect.flatMap(inner.remove(slot, expected), openResult(slot)),
      ...(inner.withRefreshLock !== undefined ? { withRefreshLock: inner.withRefreshLock } : {})
    })
  })

/** `self`, with its store wrapped. */
export const layer =
  (keys: Keys) => <E, R>(self: Layer.Layer<TokenStore, E, R>): Layer.Layer<TokenStore, E | ConfigurationError, R> =>
    Layer.effect(TokenStore, Effect.flatMap(TokenStore, (inner) => make(inner, keys))).pipe(Layer.provide(self))
