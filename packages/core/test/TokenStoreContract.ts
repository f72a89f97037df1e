/**
 * The behaviour every `TokenStore` driver owes its callers, as a reusable suite: the core drivers
 * run it in TokenStore.test.ts, and the platform stores (Node file store, browser web storage) run it
 * in their own tests. Every test uses its own keys, so a driver whose storage outlives one build
 * (a directory, a database) can run the suite on it.
 */
import type { StoreError } from "@effect-oauth/core/OAuthError"
import * as Scopes from "@effect-oauth/core/Scopes"
import { Token } from "@effect-oauth/core/Token"
import { encrypted, expectationOf, TokenStore } from "@effect-oauth/core/TokenStore"
import type { Expectation } from "@effect-oauth/core/TokenStore"
import { assert, describe, it } from "@effect/vitest"
import { Cause, Context, Effect, Equal, HashMap, Layer, Logger, Option, Redacted } from "effect"

/** Options of {@link tokenStoreContract}. */
export interface TokenStoreContractOptions {
  /** How many fibers race in the concurrency tests (default 20). */
  readonly racers?: number
  /**
   * Set when two builds of the layer are two handles on one storage (the same directory, database or
   * `KeyValueStore`), as two processes would be: the suite then also checks that each sees the
   * other's writes and that conditional writes stay exclusive across them.
   */
  readonly sharedBetweenBuilds?: boolean
  /** Also run the suite over the driver wrapped in `TokenStore.encrypted` (with {@link contractKeys}). */
  readonly encrypted?: boolean
}

/** The keys of the encrypted runs: a current one and a previous one (32 bytes each, base64). */
export const contractKeys: encrypted.Keys = {
  current: { id: "contract-2", key: Redacted.make("Q29udHJhY3Qga2V5IG51bWJlciB0d28sIDMyIGJ5dGU=") },
  previous: [{ id: "contract-1", key: Redacted.make("Q29udHJhY3Qga2V5IG51bWJlciBvbmUsIDMyIGJ5dGU=") }]
}

const secretAccess = "access-SECRET-9f2c"
const secretRefresh = "refresh-SECRET-51ab"

/** A token with every field set; `overrides` replace fields. */
export const makeToken = (overrides: Partial<ConstructorParameters<typeof Token>[0]> = {}): Token =>
  new Token({
    accessToken: Redacted.make(secretAccess),
    tokenType: "Bearer",
    refreshToken: Option.some(Redacted.make(secretRefresh)),
    expiresAt: Option.some(1_700_000_086_400_000),
    issuedAt: 1_700_000_000_000,
    scopes: Scopes.make("identify", "public", "chat.write"),
    version: 0,
    ...overrides
  })

/** A store test's token of `version`, its access token `access`. */
export const tokenOf = (version: number, access = `token-${version}`): Token =>
  new Token({
    accessToken: Redacted.make(access),
    tokenType: "Bearer",
    refreshToken: Option.some(Redacted.make(`refresh-SECRET-${version}`)),
    expiresAt: Option.some(1_700_000_086_400_000),
    issuedAt: 1_700_000_000_000,
    scopes: Scopes.make("identify"),
    version
  })

/** Runs `self` with every log line (message, annotations, cause) captured as text. */
export const captureLogs = <A, E, R>(self: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const lines: Array<string> = []
    const logger = Logger.make(({ annotations, cause, message }) => {
      lines.push(
        `${JSON.stringify(message)} ${JSON.stringify(Object.fromEntries(HashMap.toEntries(annotations)))} ${
          Cause.pretty(cause)
        }`
      )
    })
    const result = yield* self.pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
    return [result, lines] as const
  })

/** Asserts that `actual` holds a token equal, field by field, to `expected`. */
/** Writes against whatever is stored (read, then compare-and-set): whether it was written. */
export const put = (store: TokenStore.Service, key: string, token: Token): Effect.Effect<boolean, StoreError> =>
  Effect.flatMap(
    store.get(key),
    (current) => Effect.map(store.set(key, token, expectationOf(current)), (result) => result._tag === "Written")
  )

/** A compare-and-set: whether it was written. */
export const cas = (
  store: TokenStore.Service,
  key: string,
  token: Token,
  expected: Expectation
): Effect.Effect<boolean, StoreError> =>
  Effect.map(store.set(key, token, expected), (result) => result._tag === "Written")

/** Removes whatever is stored (read, then a conditional remove). */
export const del = (store: TokenStore.Service, key: string): Effect.Effect<boolean, StoreError> =>
  Effect.flatMap(
    store.get(key),
    (current) => Effect.map(store.remove(key, expectationOf(current)), (result) => result._tag === "Written")
  )

export const assertToken = (actual: Option.Option<Token>, expected: Token): void => {
  assert.isTrue(Option.isSome(actual), "expected a token, got none")
  const token = Option.getOrThrow(actual)
  assert.strictEqual(Redacted.value(token.accessToken), Redacted.value(expected.accessToken))
  assert.strictEqual(token.tokenType, expected.tokenType)
  assert.deepStrictEqual(
    Option.map(token.refreshToken, Redacted.value),
    Option.map(expected.refreshToken, Redacted.value)
  )
  assert.deepStrictEqual(token.expiresAt, expected.expiresAt)
  assert.strictEqual(token.issuedAt, expected.issuedAt)
  assert.strictEqual(Scopes.format(token.scopes), Scopes.format(expected.scopes))
  assert.strictEqual(token.version, expected.version)
  assert.isTrue(Equal.equals(token, expected), "the tokens are not Equal")
}

/**
 * Registers `describe(name)` with the contract tests of a `TokenStore` driver built by `layer`.
 */
export const tokenStoreContract = (
  name: string,
  layer: Layer.Layer<TokenStore, unknown>,
  options: TokenStoreContractOptions = {}
): void => {
  if (options.encrypted === true) {
    tokenStoreContract(`${name}, encrypted`, encrypted(contractKeys)(layer), { ...options, encrypted: false })
  }
  const racers = options.racers ?? 20
  // Unique per run, so leftovers of an earlier run in persistent storage cannot interfere.
  const run = globalThis.crypto.randomUUID().slice(0, 8)
  let counter = 0
  const freshKey = (label: string) => `contract-${run}/${++counter}/${label}`

  const withStore = <A, E>(f: (store: TokenStore.Service) => Effect.Effect<A, E>) =>
    Effect.flatMap(TokenStore, f).pipe(Effect.provide(layer))

  describe(name, () => {
    it.effect("get on an empty key is none", () =>
      withStore((store) =>
        Effect.gen(function*() {
          assert.isTrue(Option.isNone(yield* store.get(freshKey("empty"))))
        })
      ))

    it.effect("set then get round-trips every field", () =>
      withStore((store) =>
        Effect.gen(function*() {
          const key = freshKey("full")
          const token = makeToken({ version: 7 })
          assert.isTrue(yield* put(store, key, token))
          assertToken(yield* store.get(key), token)
        })
      ))

    it.effect("round-trips a token without refresh token, lifetime or scopes", () =>
      withStore((store) =>
        Effect.gen(function*() {
          const key = freshKey("bare")
          const token = makeToken({
            refreshToken: Option.none(),
            expiresAt: Option.none(),
            scopes: Scopes.empty,
            version: 0
          })
          assert.isTrue(yield* put(store, key, token))
          assertToken(yield* store.get(key), token)
        })
      ))

    it.effect("round-trips tokens with unusual characters and large numbers", () =>
      withStore((store) =>
        Effect.gen(function*() {
          const key = freshKey("unicode")
          const token = makeToken({
            accessToken: Redacted.make("a.b-c_d~e+f/g=h \"quoted\" \\ ü 🔑 \n"),
            refreshToken: Option.some(Redacted.make("")),
            expiresAt: Option.some(Number.MAX_SAFE_INTEGER),
            issuedAt: 0,
            version: 2 ** 40
          })
          assert.isTrue(yield* put(store, key, token))
          assertToken(yield* store.get(key), token)
        })
      ))

    it.effect("keys may hold slashes, spaces, colons, @ and non-ASCII", () =>
      withStore((store) =>
        Effect.gen(function*() {
          const key = freshKey("osu/1234/user/ü ser@example.com:x")
          const token = makeToken()
          assert.isTrue(yield* put(store, key, token))
          assertToken(yield* store.get(key), token)
        })
      ))

    it.effect("set replaces the stored token", () =>
      withStore((store) =>
        Effect.gen(function*() {
          const key = freshKey("replace")
          assert.isTrue(yield* put(store, key, makeToken({ version: 1 })))
          const second = makeToken({
            accessToken: Redacted.make("second-access"),
            refreshToken: Option.none(),
            version: 2
          })
          assert.isTrue(yield* put(store, key, second))
          assertToken(yield* store.get(key), second)
        })
      ))

    it.effect("remove deletes the token", () =>
      withStore((store) =>
        Effect.gen(function*() {
          const key = freshKey("remove")
          yield* put(store, key, makeToken())
          yield* del(store, key)
          assert.isTrue(Option.isNone(yield* store.get(key)))
        })
      ))

    it.effect("removing a missing key succeeds", () =>
      withStore((store) =>
        Effect.gen(function*() {
          const key = freshKey("missing")
          yield* del(store, key)
          yield* del(store, key)
          assert.isTrue(Option.isNone(yield* store.get(key)))
        })
      ))

    it.effect("a conflict answers with what is stored, so the writer can adopt it", () =>
      withStore((store) =>
        Effect.gen(function*() {
          const key = freshKey("conflict-current")
          const stored = makeToken({ accessToken: Redacted.make("stored-access"), version: 4 })
          assert.isTrue(yield* cas(store, key, stored, { _tag: "Absent" }))
          const result = yield* store.set(key, makeToken({ version: 5 }), { _tag: "Version", version: 3 })
          assert.strictEqual(result._tag, "Conflict")
          if (result._tag === "Conflict") assertToken(result.current, stored)
          const absent = yield* store.set(freshKey("conflict-absent"), makeToken(), { _tag: "Version", version: 1 })
          assert.deepStrictEqual(absent._tag === "Conflict" && Option.isNone(absent.current), true)
        })
      ))

    it.effect("remove is a compare-and-set too: a stale expectation removes nothing", () =>
      withStore((store) =>
        Effect.gen(function*() {
          const key = freshKey("remove-cas")
          const stored = makeToken({ version: 6 })
          assert.isTrue(yield* cas(store, key, stored, { _tag: "Absent" }))
          const stale = yield* store.remove(key, { _tag: "Version", version: 5 })
          assert.strictEqual(stale._tag, "Conflict")
          assertToken(yield* store.get(key), stored)
          assert.strictEqual((yield* store.remove(key, { _tag: "Version", version: 6 }))._tag, "Written")
          assert.isTrue(Option.isNone(yield* store.get(key)))
          assert.strictEqual((yield* store.remove(key, { _tag: "Absent" }))._tag, "Written")
        })
      ))

    it.effect("keys are independent", () =>
      withStore((store) =>
        Effect.gen(function*() {
          const a = freshKey("a")
          const b = freshKey("b")
          const tokenA = makeToken({ accessToken: Redacted.make("token-a"), version: 1 })
          const tokenB = makeToken({ accessToken: Redacted.make("token-b"), version: 5 })
          yield* put(store, a, tokenA)
          assert.isTrue(Option.isNone(yield* store.get(b)))
          yield* put(store, b, tokenB)
          assertToken(yield* store.get(a), tokenA)
          assertToken(yield* store.get(b), tokenB)
          yield* del(store, a)
          assert.isTrue(Option.isNone(yield* store.get(a)))
          assertToken(yield* store.get(b), tokenB)
          // A conditional write on one key does not look at the other.
          assert.isTrue(yield* cas(store, a, tokenA, { _tag: "Absent" }))
        })
      ))

    it.effect("conditional set on Absent writes when nothing is stored", () =>
      withStore((store) =>
        Effect.gen(function*() {
          const key = freshKey("absent-ok")
          const token = makeToken({ version: 0 })
          assert.isTrue(yield* cas(store, key, token, { _tag: "Absent" }))
          assertToken(yield* store.get(key), token)
        })
      ))

    it.effect("conditional set on Absent refuses when a token is stored, leaving it unchanged", () =>
      withStore((store) =>
        Effect.gen(function*() {
          const key = freshKey("absent-conflict")
          const stored = makeToken({ version: 3 })
          yield* put(store, key, stored)
          const other = makeToken({ accessToken: Redacted.make("intruder"), version: 0 })
          assert.isFalse(yield* cas(store, key, other, { _tag: "Absent" }))
          assertToken(yield* store.get(key), stored)
        })
      ))

    it.effect("conditional set on Absent writes again after a remove", () =>
      withStore((store) =>
        Effect.gen(function*() {
          const key = freshKey("absent-after-remove")
          yield* put(store, key, makeToken({ version: 3 }))
          yield* del(store, key)
          const token = makeToken({ version: 0 })
          assert.isTrue(yield* cas(store, key, token, { _tag: "Absent" }))
          assertToken(yield* store.get(key), token)
        })
      ))

    it.effect("conditional set on a Version writes when the stored version matches", () =>
      withStore((store) =>
        Effect.gen(function*() {
          const key = freshKey("version-ok")
          yield* put(store, key, makeToken({ version: 4 }))
          const next = makeToken({ accessToken: Redacted.make("next"), version: 5 })
          assert.isTrue(yield* cas(store, key, next, { _tag: "Version", version: 4 }))
          assertToken(yield* store.get(key), next)
        })
      ))

    it.effect("conditional set on a Version refuses when the stored version differs, leaving it unchanged", () =>
      withStore((store) =>
        Effect.gen(function*() {
          const key = freshKey("version-conflict")
          const stored = makeToken({ version: 6 })
          yield* put(store, key, stored)
          const stale = makeToken({ accessToken: Redacted.make("stale"), version: 5 })
          assert.isFalse(yield* cas(store, key, stale, { _tag: "Version", version: 4 }))
          assert.isFalse(yield* cas(store, key, stale, { _tag: "Version", version: 7 }))
          assertToken(yield* store.get(key), stored)
        })
      ))

    it.effect("conditional set on a Version refuses when nothing is stored", () =>
      withStore((store) =>
        Effect.gen(function*() {
          const key = freshKey("version-absent")
          assert.isFalse(yield* cas(store, key, makeToken({ version: 1 }), { _tag: "Version", version: 0 }))
          assert.isTrue(Option.isNone(yield* store.get(key)))
        })
      ))

    it.effect(`${racers} concurrent conditional sets on Absent: exactly one wins`, () =>
      withStore((store) =>
        Effect.gen(function*() {
          const key = freshKey("race-absent")
          const tokens = Array.from(
            { length: racers },
            (_, i) => makeToken({ accessToken: Redacted.make(`racer-${i}`) })
          )
          const results = yield* Effect.all(tokens.map((token) => cas(store, key, token, { _tag: "Absent" })), {
            concurrency: "unbounded"
          })
          assert.strictEqual(results.filter((written) => written).length, 1)
          assertToken(yield* store.get(key), tokens[results.indexOf(true)]!)
        })
      ))

    it.effect(`${racers} concurrent conditional sets on one Version: exactly one wins`, () =>
      withStore((store) =>
        Effect.gen(function*() {
          const key = freshKey("race-version")
          yield* put(store, key, makeToken({ version: 10 }))
          const tokens = Array.from(
            { length: racers },
            (_, i) => makeToken({ accessToken: Redacted.make(`racer-${i}`), version: 11 })
          )
          const results = yield* Effect.all(
            tokens.map((token) => cas(store, key, token, { _tag: "Version", version: 10 })),
            { concurrency: "unbounded" }
          )
          assert.strictEqual(results.filter((written) => written).length, 1)
          assertToken(yield* store.get(key), tokens[results.indexOf(true)]!)
        })
      ))

    it.effect(`${racers} concurrent read-compare-write loops lose no update`, () =>
      withStore((store) =>
        Effect.gen(function*() {
          const key = freshKey("race-increment")
          yield* put(store, key, makeToken({ version: 0 }))
          // Each fiber bumps the version once, re-reading after every conflict (bounded).
          const bump = Effect.gen(function*() {
            for (let attempt = 0; attempt < racers * 4; attempt++) {
              const current = yield* store.get(key)
              const version = Option.getOrThrow(current).version
              if (yield* cas(store, key, makeToken({ version: version + 1 }), { _tag: "Version", version })) return true
            }
            return false
          })
          const results = yield* Effect.all(Array.from({ length: racers }, () => bump), { concurrency: "unbounded" })
          assert.isTrue(results.every((done) => done))
          assert.strictEqual(Option.getOrThrow(yield* store.get(key)).version, racers)
        })
      ))

    it.effect("a token read back prints no secret", () =>
      withStore((store) =>
        Effect.gen(function*() {
          const key = freshKey("redacted")
          yield* put(store, key, makeToken())
          const token = Option.getOrThrow(yield* store.get(key))
          for (const text of [String(token), JSON.stringify(token), JSON.stringify(Option.some(token))]) {
            assert.notInclude(text, secretAccess)
            assert.notInclude(text, secretRefresh)
          }
        })
      ))

    if (options.sharedBetweenBuilds === true) {
      const twoStores = Effect.gen(function*() {
        const a = yield* Layer.build(layer)
        const b = yield* Layer.build(layer)
        return [Context.get(a, TokenStore), Context.get(b, TokenStore)] as const
      })

      it.scoped("two builds see each other's writes and removals", () =>
        Effect.gen(function*() {
          const [a, b] = yield* twoStores
          const key = freshKey("shared")
          const token = makeToken({ version: 3 })
          yield* put(a, key, token)
          assertToken(yield* b.get(key), token)
          assert.isFalse(yield* cas(b, key, makeToken({ version: 1 }), { _tag: "Absent" }))
          yield* del(b, key)
          assert.isTrue(Option.isNone(yield* a.get(key)))
        }))

      it.scoped(`${racers} conditional sets spread over two builds: exactly one wins`, () =>
        Effect.gen(function*() {
          const [a, b] = yield* twoStores
          const key = freshKey("shared-race")
          yield* put(a, key, makeToken({ version: 1 }))
          const tokens = Array.from(
            { length: racers },
            (_, i) => makeToken({ accessToken: Redacted.make(`racer-${i}`), version: 2 })
          )
          const results = yield* Effect.all(
            tokens.map((token, i) => cas(i % 2 === 0 ? a : b, key, token, { _tag: "Version", version: 1 })),
            { concurrency: "unbounded" }
          )
          assert.strictEqual(results.filter((written) => written).length, 1)
          assertToken(yield* b.get(key), tokens[results.indexOf(true)]!)
        }))
    }
  })
}
