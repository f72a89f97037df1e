/**
 * A provider's JSON Web Key Set, fetched through the token endpoint's HTTP reader (no redirects,
 * 1 MiB, timeouts) and kept: it is read again when it is older than its maximum age, and once more for a
 * `kid` it does not hold, but never twice within the cool-down, so a stream of tokens naming unknown
 * keys costs at most one request per cool-down.
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import type { CryptoKey, JSONWebKeySet, JWSHeaderParameters } from "jose"
import { createLocalJWKSet } from "jose"
import type { ConfigurationError, TokenRequestError } from "../OAuthError.js"

/** @internal */
export type GetJson = (
  url: string
) => Effect.Effect<Readonly<Record<string, unknown>>, TokenRequestError | ConfigurationError>

/** Why no key came out. @internal */
export type KeyProblem = { readonly _tag: "UnknownKey" | "Keys"; readonly detail: string }

interface Entry {
  readonly url: string
  readonly fetchedAt: number
  readonly select: ReturnType<typeof createLocalJWKSet>
}

/** @internal */
export interface Cache {
  readonly key: (
    url: string,
    header: JWSHeaderParameters,
    getJson: GetJson
  ) => Effect.Effect<CryptoKey, KeyProblem | TokenRequestError | ConfigurationError>
  /** How many times the set was fetched (for tests and metrics). */
  readonly fetches: () => number
}

const codeOf = (error: unknown): string =>
  typeof error === "object" && error !== null && "code" in error && typeof error.code === "string" ? error.code : ""

/** @internal */
export const make = (options: { readonly cooldownMillis: number; readonly maxAgeMillis: number }): Cache => {
  let entry: Entry | undefined
  let fetches = 0
  // One fetch at a time: fibers that wait behind it use what it fetched.
  const lock = Effect.unsafeMakeSemaphore(1)

  const fetch = (url: string, getJson: GetJson, stale: (entry: Entry) => boolean) =>
    lock.withPermits(1)(Effect.gen(function*() {
      if (entry !== undefined && entry.url === url && !stale(entry)) return entry
      fetches++
      const body = yield* getJson(url)
      if (!Array.isArray(body.keys)) {
        return yield* Effect.fail<KeyProblem>({ _tag: "Keys", detail: `${url} is not a JSON Web Key Set` })
      }
      let select: Entry["select"]
      try {
        select = createLocalJWKSet(body as unknown as JSONWebKeySet)
      } catch {
        return yield* Effect.fail<KeyProblem>({ _tag: "Keys", detail: `${url} is not a valid JSON Web Key Set` })
      }
      const fetched: Entry = { url, fetchedAt: yield* Clock.currentTimeMillis, select }
      entry = fetched
      return fetched
    }))

  const select = (current: Entry, header: JWSHeaderParameters) =>
    Effect.tryPromise({ try: () => current.select(header), catch: codeOf })

  const key: Cache["key"] = (url, header, getJson) =>
    Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const current = yield* fetch(url, getJson, (e) => now - e.fetchedAt >= options.maxAgeMillis)
      const first = yield* Effect.either(select(current, header))
      if (first._tag === "Right") return first.right
      // A kid we do not know may be a key the provider rotated in since: read the set once more.
      let code = first.left
      if (code === "ERR_JWKS_NO_MATCHING_KEY" && now - current.fetchedAt >= options.cooldownMillis) {
        const refreshed = yield* fetch(url, getJson, (e) => e.fetchedAt <= current.fetchedAt)
        const second = yield* Effect.either(select(refreshed, header))
        if (second._tag === "Right") return second.right
        code = second.left
      }
      return yield* Effect.fail<KeyProblem>(
        code === "ERR_JWKS_MULTIPLE_MATCHING_KEYS"
          ? { _tag: "UnknownKey", detail: "several keys of the provider's JWKS match the token's header" }
          : code === "ERR_JWKS_NO_MATCHING_KEY"
          ? { _tag: "UnknownKey", detail: "no key of the provider's JWKS matches the token's kid and alg" }
          : { _tag: "Keys", detail: "the matching key of the provider's JWKS cannot be used" }
      )
    })

  return { key, fetches: () => fetches }
}
