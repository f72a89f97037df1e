import * as Scopes from "@effect-oauth/core/Scopes"
import type { Token } from "@effect-oauth/core/Token"
import * as TokenStore from "@effect-oauth/core/TokenStore"
import * as PlatformError from "@effect/platform/Error"
import * as KeyValueStore from "@effect/platform/KeyValueStore"
import { assert, describe, it } from "@effect/vitest"
import {
  Cause,
  Context,
  Data,
  Effect,
  Either,
  Exit,
  FastCheck as fc,
  Fiber,
  HashMap,
  Layer,
  Logger,
  Option,
  Redacted,
  Ref
} from "effect"
import { assertToken, cas, del, makeToken, put, tokenStoreContract } from "./TokenStoreContract.js"

const secretAccess = "access-SECRET-9f2c"
const secretRefresh = "refresh-SECRET-51ab"

// -----------------------------------------------------------------------------
// helpers
// -----------------------------------------------------------------------------

interface LogLine {
  readonly level: string
  readonly text: string
}

const renderMessage = (message: unknown): string =>
  (Array.isArray(message) ? message : [message]).map((part) => typeof part === "string" ? part : JSON.stringify(part))
    .join(" ")

/** Runs `self` with every log line captured: level, message, annotations and cause. */
const captureLogs = <A, E, R>(self: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const lines: Array<LogLine> = []
    const logger = Logger.make(({ annotations, cause, logLevel, message }) => {
      lines.push({
        level: logLevel.label,
        text: [
          renderMessage(message),
          JSON.stringify(Object.fromEntries(HashMap.toEntries(annotations))),
          Cause.pretty(cause)
        ]
          .join(" | ")
      })
    })
    const result = yield* self.pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
    return [result, lines] as const
  })

const assertNoSecret = (text: string, ...secrets: ReadonlyArray<string>) => {
  for (const secret of [secretAccess, secretRefresh, "SECRET", ...secrets]) assert.notInclude(text, secret)
}

const encodedToken = (token: Token) => JSON.parse(Either.getOrThrow(TokenStore.encodeStored(token))).token

// One KeyValueStore instance for the suite that builds the store twice on it.
const sharedKeyValueStore = Effect.runSync(Effect.provide(KeyValueStore.KeyValueStore, KeyValueStore.layerMemory))
const sharedKeyValueStoreLayer = Layer.succeed(KeyValueStore.KeyValueStore, sharedKeyValueStore)

const callbacksOverRef = (ref: Ref.Ref<HashMap.HashMap<string, Token>>) =>
  TokenStore.layerCallbacks({
    load: (key) => Effect.map(Ref.get(ref), HashMap.get(key)),
    save: (key, token) =>
      Ref.update(ref, (map) =>
        Option.match(token, {
          onNone: () => HashMap.remove(map, key),
          onSome: (token) => HashMap.set(map, key, token)
        }))
  })

// The application keeps the stored JSON text in a text column, and reads it back with decodeStored.
const callbacksOverText = (ref: Ref.Ref<HashMap.HashMap<string, string>>) =>
  TokenStore.layerCallbacks({
    load: (key) =>
      Effect.map(
        Ref.get(ref),
        (map) => Option.flatMap(HashMap.get(map, key), (text) => Either.getRight(TokenStore.decodeStored(text)))
      ),
    save: (key, token) =>
      Option.match(token, {
        onNone: () => Ref.update(ref, HashMap.remove(key)),
        onSome: (token) =>
          Effect.flatMap(
            Effect.orDie(TokenStore.encodeStored(token)),
            (text) => Ref.update(ref, HashMap.set(key, text))
          )
      })
  })

// Every call yields to other fibers first, so an unguarded read-compare-write would interleave and the
// race tests would see several winners.
const yielding = <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.zipRight(Effect.yieldNow(), self)

const yieldingKeyValueStore = Layer.effect(
  KeyValueStore.KeyValueStore,
  Effect.map(KeyValueStore.KeyValueStore, (inner) =>
    KeyValueStore.make({
      get: (key) => yielding(inner.get(key)),
      getUint8Array: (key) => yielding(inner.getUint8Array(key)),
      set: (key, value) => yielding(inner.set(key, value)),
      remove: (key) => yielding(inner.remove(key)),
      clear: inner.clear,
      size: inner.size
    }))
).pipe(Layer.provide(KeyValueStore.layerMemory))

const yieldingCallbacks = (ref: Ref.Ref<HashMap.HashMap<string, Token>>) =>
  TokenStore.layerCallbacks({
    load: (key) => yielding(Effect.map(Ref.get(ref), HashMap.get(key))),
    save: (key, token) =>
      yielding(Ref.update(ref, (map) =>
        Option.match(token, {
          onNone: () => HashMap.remove(map, key),
          onSome: (token) => HashMap.set(map, key, token)
        })))
  })

// A compare-and-set in the application's storage, as a database would do it in one statement.
const sharedRows = Ref.unsafeMake(HashMap.empty<string, Token>())
const callbacksWithSaveIf = TokenStore.layerCallbacks({
  load: (key) => Effect.map(Ref.get(sharedRows), HashMap.get(key)),
  save: (key, token) =>
    Ref.update(sharedRows, (map) =>
      Option.match(token, {
        onNone: () => HashMap.remove(map, key),
        onSome: (token) => HashMap.set(map, key, token)
      })),
  saveIf: (key, token, expected) =>
    Ref.modify(sharedRows, (map) =>
      TokenStore.matches(HashMap.get(map, key), expected)
        ? [
          true,
          Option.match(token, { onNone: () => HashMap.remove(map, key), onSome: (t) => HashMap.set(map, key, t) })
        ]
        : [false, map])
})

// -----------------------------------------------------------------------------
// the contract, against every driver
// -----------------------------------------------------------------------------

tokenStoreContract("layerMemory", TokenStore.layerMemory)

tokenStoreContract(
  "layerKeyValueStore over KeyValueStore.layerMemory",
  TokenStore.layerKeyValueStore().pipe(Layer.provide(KeyValueStore.layerMemory))
)

tokenStoreContract(
  "layerKeyValueStore, two builds over one KeyValueStore",
  TokenStore.layerKeyValueStore({ prefix: "app:" }).pipe(Layer.provide(sharedKeyValueStoreLayer)),
  { sharedBetweenBuilds: true }
)

tokenStoreContract(
  "layerCallbacks over a Ref-backed map",
  Layer.unwrapEffect(Effect.map(Ref.make(HashMap.empty<string, Token>()), callbacksOverRef))
)

tokenStoreContract(
  "layerCallbacks over stored JSON text",
  Layer.unwrapEffect(Effect.map(Ref.make(HashMap.empty<string, string>()), callbacksOverText))
)

tokenStoreContract(
  "layerKeyValueStore over a KeyValueStore that yields on every call",
  TokenStore.layerKeyValueStore().pipe(Layer.provide(yieldingKeyValueStore))
)

tokenStoreContract(
  "layerCallbacks whose callbacks yield on every call",
  Layer.unwrapEffect(Effect.map(Ref.make(HashMap.empty<string, Token>()), yieldingCallbacks))
)

tokenStoreContract("layerCallbacks with saveIf, two builds over one table", callbacksWithSaveIf, {
  sharedBetweenBuilds: true
})

// Stored values that must read as absent: label, text, reason, a phrase the detail must hold.
const problems: ReadonlyArray<readonly [string, string, TokenStore.StoredTokenProblem["reason"], string]> = [
  ["raw text", `${secretAccess} is not JSON`, "NotJson", "not JSON"],
  [
    "truncated JSON",
    `{"format":"effect-oauth/token","v":1,"token":{"accessToken":"${secretAccess}"`,
    "NotJson",
    "not JSON"
  ],
  ["a JSON string", JSON.stringify(secretAccess), "UnknownFormat", "not a stored token"],
  ["JSON null", "null", "UnknownFormat", "not a stored token"],
  ["an array", JSON.stringify([secretAccess]), "UnknownFormat", "not a stored token"],
  ["a bare encoded token", JSON.stringify(encodedToken(makeToken())), "UnknownFormat", "not a stored token"],
  [
    "a wrong format tag",
    JSON.stringify({ format: "other/token", v: 1, token: encodedToken(makeToken()) }),
    "UnknownFormat",
    "not a stored token"
  ],
  [
    "an unknown version",
    JSON.stringify({ format: "effect-oauth/token", v: 2, token: encodedToken(makeToken()) }),
    "UnknownVersion",
    "unknown format version 2"
  ],
  [
    "a missing version",
    JSON.stringify({ format: "effect-oauth/token", token: encodedToken(makeToken()) }),
    "UnknownVersion",
    "unknown format version (this release"
  ],
  [
    "a version that is a string",
    JSON.stringify({ format: "effect-oauth/token", v: secretAccess, token: encodedToken(makeToken()) }),
    "UnknownVersion",
    "unknown format version (this release"
  ],
  [
    "a missing token",
    JSON.stringify({ format: "effect-oauth/token", v: 1 }),
    "InvalidToken",
    "token is missing"
  ],
  [
    "a partial token",
    JSON.stringify({ format: "effect-oauth/token", v: 1, token: { refreshToken: secretRefresh, version: 1 } }),
    "InvalidToken",
    "token.accessToken is missing"
  ],
  [
    "a field of the wrong type holding a secret",
    JSON.stringify({
      format: "effect-oauth/token",
      v: 1,
      token: { ...encodedToken(makeToken()), expiresAt: `${secretAccess}-in-the-wrong-field` }
    }),
    "InvalidToken",
    "token.expiresAt is of the wrong type or value"
  ],
  [
    "a non-Bearer token type",
    JSON.stringify({ format: "effect-oauth/token", v: 1, token: { ...encodedToken(makeToken()), tokenType: "mac" } }),
    "InvalidToken",
    "token.tokenType"
  ],
  [
    "an invalid scope string",
    JSON.stringify({
      format: "effect-oauth/token",
      v: 1,
      token: { ...encodedToken(makeToken()), scopes: `bad"${secretAccess}` }
    }),
    "InvalidToken",
    "token.scopes"
  ]
]

// -----------------------------------------------------------------------------
// the stored format
// -----------------------------------------------------------------------------

describe("stored format", () => {
  it("encodeStored writes the documented, versioned JSON", () => {
    const token = makeToken({ version: 3 })
    const stored = JSON.parse(Either.getOrThrow(TokenStore.encodeStored(token)))
    assert.deepStrictEqual(stored, {
      format: "effect-oauth/token",
      v: 1,
      token: {
        accessToken: secretAccess,
        tokenType: "Bearer",
        refreshToken: secretRefresh,
        expiresAt: 1_700_000_086_400_000,
        issuedAt: 1_700_000_000_000,
        scopes: "chat.write identify public",
        version: 3,
        idToken: null
      }
    })
  })

  it("optional fields are stored as null", () => {
    const token = makeToken({ refreshToken: Option.none(), expiresAt: Option.none() })
    const stored = JSON.parse(Either.getOrThrow(TokenStore.encodeStored(token)))
    assert.strictEqual(stored.token.refreshToken, null)
    assert.strictEqual(stored.token.expiresAt, null)
  })

  it("decodeStored ignores unknown members (forward compatible within a version)", () => {
    const token = makeToken()
    const text = JSON.stringify({
      format: "effect-oauth/token",
      v: 1,
      extra: true,
      token: { ...encodedToken(token), refreshTokenExpiresAt: 5 }
    })
    assertToken(Either.getRight(TokenStore.decodeStored(text)), token)
  })

  it("a token that JSON cannot hold is refused, naming the field, not the value", () => {
    const result = TokenStore.encodeStored(makeToken({ expiresAt: Option.some(Number.NaN) }))
    assert.isTrue(Either.isLeft(result))
    const problem = Either.getLeft(result).pipe(Option.getOrThrow)
    assert.strictEqual(problem.reason, "InvalidToken")
    assertNoSecret(problem.detail)
  })

  for (const [label, text, reason, detail] of problems) {
    it(`decodeStored: ${label} is a ${reason} problem whose detail holds no value`, () => {
      const result = TokenStore.decodeStored(text)
      const problem = Either.getLeft(result).pipe(Option.getOrThrow)
      assert.strictEqual(problem.reason, reason)
      assert.include(problem.detail, detail)
      assertNoSecret(problem.detail)
    })
  }

  const tokenArbitrary = fc.record({
    access: fc.string(),
    refresh: fc.option(fc.string(), { nil: undefined }),
    // JSON writes -0 as 0, the same instant: the arbitrary leaves it out.
    expiresAt: fc.option(fc.double({ noNaN: true, noDefaultInfinity: true }).map((n) => n === 0 ? 0 : n), {
      nil: undefined
    }),
    issuedAt: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
    scopes: fc.uniqueArray(fc.stringMatching(/^[a-z][a-z0-9.:_*-]{0,12}$/), { maxLength: 6 }),
    version: fc.nat()
  })

  it.prop("encodeStored then decodeStored gives the same token", [tokenArbitrary], ([t]) => {
    const token = makeToken({
      accessToken: Redacted.make(t.access),
      refreshToken: Option.map(Option.fromNullable(t.refresh), Redacted.make),
      expiresAt: Option.fromNullable(t.expiresAt),
      issuedAt: t.issuedAt,
      scopes: Either.getOrThrow(Scopes.fromIterable(t.scopes)),
      version: t.version
    })
    const text = Either.getOrThrow(TokenStore.encodeStored(token))
    assertToken(Either.getRight(TokenStore.decodeStored(text)), token)
  })

  it.prop("decodeStored never throws on arbitrary text", [fc.oneof(fc.string(), fc.json())], ([text]) => {
    const result = TokenStore.decodeStored(text)
    assert.isTrue(Either.isLeft(result) || Either.isRight(result))
  })

  const poisoned = fc.oneof(
    fc.constant("SECRET-marker"),
    fc.integer(),
    fc.constant(null),
    fc.boolean(),
    fc.constant(["SECRET-marker"]),
    fc.constant({ nested: "SECRET-marker" })
  )
  const field = fc.option(poisoned, { nil: undefined })

  it.prop(
    "the detail of an invalid stored token never quotes its values",
    [
      fc.record({
        accessToken: field,
        tokenType: field,
        refreshToken: field,
        expiresAt: field,
        issuedAt: field,
        scopes: field,
        version: field
      })
    ],
    ([token]) => {
      const result = TokenStore.decodeStored(JSON.stringify({ format: "effect-oauth/token", v: 1, token }))
      Either.match(result, {
        onLeft: (problem) => assert.notInclude(problem.detail, "SECRET"),
        onRight: () => assert.fail("a poisoned token decoded")
      })
    }
  )
})

// -----------------------------------------------------------------------------
// layerKeyValueStore
// -----------------------------------------------------------------------------

describe("layerKeyValueStore", () => {
  const withKvs = <A, E>(
    f: (store: TokenStore.TokenStore.Service, kvs: KeyValueStore.KeyValueStore) => Effect.Effect<A, E>,
    options?: TokenStore.KeyValueStoreOptions
  ) =>
    Effect.gen(function*() {
      const kvs = yield* KeyValueStore.KeyValueStore
      const store = yield* TokenStore.makeKeyValueStore(options)
      return yield* f(store, kvs)
    }).pipe(Effect.provide(KeyValueStore.layerMemory))

  it.effect("stores the versioned JSON under the prefixed key", () =>
    withKvs((store, kvs) =>
      Effect.gen(function*() {
        const token = makeToken({ version: 2 })
        yield* put(store, "osu/1/user/default", token)
        const raw = Option.getOrThrow(yield* kvs.get("effect-oauth/token/osu/1/user/default"))
        assert.strictEqual(raw, Either.getOrThrow(TokenStore.encodeStored(token)))
        yield* del(store, "osu/1/user/default")
        assert.isFalse(yield* kvs.has("effect-oauth/token/osu/1/user/default"))
      })
    ))

  it.effect("applies a custom prefix", () =>
    withKvs(
      (store, kvs) =>
        Effect.gen(function*() {
          yield* put(store, "k", makeToken())
          assert.isTrue(yield* kvs.has("tenant-1:k"))
          assert.strictEqual(yield* kvs.size, 1)
        }),
      { prefix: "tenant-1:" }
    ))

  for (const [label, text, , detail] of problems) {
    it.effect(`${label} reads as absent, with a warning that holds no token`, () =>
      withKvs((store, kvs) =>
        Effect.gen(function*() {
          yield* kvs.set("effect-oauth/token/slot", text)
          const [result, logs] = yield* captureLogs(store.get("slot"))
          assert.isTrue(Option.isNone(result))
          assert.strictEqual(logs.length, 1)
          assert.strictEqual(logs[0]!.level, "WARN")
          assert.include(logs[0]!.text, "corrupt value under key \"effect-oauth/token/slot\" ignored")
          assert.include(logs[0]!.text, detail)
          assertNoSecret(logs[0]!.text)
        })
      ))
  }

  it.effect("a conditional set on Absent replaces a corrupt value", () =>
    withKvs((store, kvs) =>
      Effect.gen(function*() {
        yield* kvs.set("effect-oauth/token/slot", "{\"format\":\"effect-oauth/token\",\"v\":1,\"tok")
        const token = makeToken()
        const [written, logs] = yield* captureLogs(cas(store, "slot", token, { _tag: "Absent" }))
        assert.isTrue(written)
        assert.strictEqual(logs.length, 1)
        assertToken(yield* store.get("slot"), token)
      })
    ))

  it.effect("a token that cannot be stored fails with StoreError and writes nothing", () =>
    withKvs((store, kvs) =>
      Effect.gen(function*() {
        const previous = makeToken({ version: 1 })
        yield* put(store, "slot", previous)
        const error = yield* Effect.flip(
          put(store, "slot", makeToken({ expiresAt: Option.some(Number.POSITIVE_INFINITY) }))
        )
        assert.strictEqual(error._tag, "@effect-oauth/StoreError")
        assert.strictEqual(error.reason, "Set")
        assert.include(error.message, "cannot be stored")
        assertNoSecret(error.message)
        assertToken(yield* store.get("slot"), previous)
        assert.strictEqual(yield* kvs.size, 1)
      })
    ))

  const failing = KeyValueStore.make({
    get: (key) =>
      Effect.fail(
        new PlatformError.SystemError({
          reason: "PermissionDenied",
          module: "KeyValueStore",
          method: "get",
          pathOrDescriptor: key
        })
      ),
    getUint8Array: () =>
      Effect.fail(new PlatformError.BadArgument({ module: "KeyValueStore", method: "getUint8Array" })),
    set: (key) =>
      Effect.fail(
        new PlatformError.SystemError({
          reason: "PermissionDenied",
          module: "KeyValueStore",
          method: "set",
          pathOrDescriptor: key
        })
      ),
    remove: (key) =>
      Effect.fail(
        new PlatformError.SystemError({
          reason: "Busy",
          module: "KeyValueStore",
          method: "remove",
          pathOrDescriptor: key
        })
      ),
    clear: Effect.void,
    size: Effect.succeed(0)
  })

  it.effect("a failing KeyValueStore fails every operation with StoreError", () =>
    Effect.gen(function*() {
      const store = yield* TokenStore.makeKeyValueStore()
      const get = yield* Effect.flip(store.get("slot"))
      const set = yield* Effect.flip(store.set("slot", makeToken(), { _tag: "Version", version: 1 }))
      const conditional = yield* Effect.flip(cas(store, "slot", makeToken(), { _tag: "Absent" }))
      const remove = yield* Effect.flip(store.remove("slot", { _tag: "Absent" }))
      assert.deepStrictEqual([get.reason, set.reason, conditional.reason, remove.reason], [
        "Get",
        "Set",
        "Set",
        "Remove"
      ])
      assert.include(get.message, "PermissionDenied")
      for (const error of [get, set, conditional, remove]) {
        assert.strictEqual(error._tag, "@effect-oauth/StoreError")
        assertNoSecret(error.message)
        assertNoSecret(JSON.stringify(error))
      }
    }).pipe(Effect.provideService(KeyValueStore.KeyValueStore, failing)))
})

// -----------------------------------------------------------------------------
// layerCallbacks
// -----------------------------------------------------------------------------

class DatabaseError extends Data.TaggedError("DatabaseError")<{ readonly statement: string }> {}

describe("layerCallbacks", () => {
  const make = <E, R>(options: TokenStore.CallbacksOptions<E, R>) => TokenStore.makeCallbacks(options)

  it.effect("save receives the token, and none on remove", () =>
    Effect.gen(function*() {
      const saved: Array<readonly [string, Option.Option<Token>]> = []
      const store = yield* make({
        load: () => Effect.succeedNone,
        save: (key, token) => Effect.sync(() => saved.push([key, token]))
      })
      const token = makeToken()
      yield* put(store, "k", token)
      yield* del(store, "k")
      assert.strictEqual(saved.length, 2)
      assert.strictEqual(saved[0]![0], "k")
      assertToken(saved[0]![1], token)
      assert.deepStrictEqual(saved[1], ["k", Option.none()])
    }))

  it.effect("a failing load fails get and conditional set with StoreError naming the error's tag only", () =>
    Effect.gen(function*() {
      let saves = 0
      const store = yield* make({
        load: () => Effect.fail(new DatabaseError({ statement: `SELECT '${secretAccess}'` })),
        save: () => Effect.sync(() => void saves++)
      })
      const get = yield* Effect.flip(store.get("k"))
      const set = yield* Effect.flip(cas(store, "k", makeToken(), { _tag: "Absent" }))
      assert.strictEqual(get._tag, "@effect-oauth/StoreError")
      assert.strictEqual(get.reason, "Get")
      assert.strictEqual(set.reason, "Set")
      assert.include(get.message, "load callback failed with DatabaseError")
      assert.strictEqual(saves, 0)
      for (const error of [get, set]) {
        assertNoSecret(error.message)
        assertNoSecret(JSON.stringify(error))
      }
    }))

  it.effect("a failing save fails set and remove with StoreError", () =>
    Effect.gen(function*() {
      const store = yield* make({
        load: () => Effect.succeedNone,
        save: (_, token) =>
          Effect.fail(
            new DatabaseError({
              statement: Option.match(token, { onNone: () => "DELETE", onSome: (t) => Redacted.value(t.accessToken) })
            })
          )
      })
      const set = yield* Effect.flip(put(store, "k", makeToken()))
      const conditional = yield* Effect.flip(cas(store, "k", makeToken(), { _tag: "Absent" }))
      const remove = yield* Effect.flip(del(store, "k"))
      assert.deepStrictEqual([set.reason, conditional.reason, remove.reason], ["Set", "Set", "Remove"])
      for (const error of [set, conditional, remove]) {
        assert.include(error.message, "save callback failed")
        assertNoSecret(error.message)
      }
    }))

  it.effect("defects and throws in callbacks become StoreError, not defects", () =>
    Effect.gen(function*() {
      const store = yield* make({
        load: (key) =>
          key === "throw"
            ? (() => {
              throw new Error(secretAccess)
            })()
            : Effect.die(new Error(secretAccess)),
        save: () => Effect.promise(() => Promise.reject(new Error(secretRefresh)))
      })
      const died = yield* Effect.exit(Effect.asVoid(store.get("die")))
      const thrown = yield* Effect.exit(Effect.asVoid(store.get("throw")))
      const rejected = yield* Effect.exit(Effect.asVoid(put(store, "k", makeToken())))
      for (const exit of [died, thrown, rejected]) {
        assert.isTrue(Exit.isFailure(exit))
        const failure = Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none()
        assert.isTrue(Option.isSome(failure), "expected a typed failure, not a defect")
        const error = Option.getOrThrow(failure)
        assert.strictEqual(error._tag, "@effect-oauth/StoreError")
        assert.include(error.message, "with a defect")
        assertNoSecret(error.message)
      }
    }))

  it.effect("interrupting a slow callback interrupts, rather than failing", () =>
    Effect.gen(function*() {
      const store = yield* make({ load: () => Effect.never, save: () => Effect.void })
      const fiber = yield* Effect.fork(store.get("k"))
      yield* Effect.yieldNow()
      const exit = yield* Fiber.interrupt(fiber)
      assert.isTrue(Exit.isInterrupted(exit))
    }))

  it.effect("with saveIf every write goes through it (a conflict then loads what is stored); without it, load then save", () =>
    Effect.gen(function*() {
      const calls: Array<string> = []
      const store = yield* make({
        load: () => Effect.sync(() => calls.push("load")).pipe(Effect.as(Option.none())),
        save: () => Effect.sync(() => void calls.push("save")),
        saveIf: (_, token, expected) =>
          Effect.sync(() => {
            calls.push(
              `saveIf ${expected._tag} ${Option.match(token, { onNone: () => "none", onSome: (t) => t.version })}`
            )
            return expected._tag === "Absent"
          })
      })
      assert.isTrue(yield* cas(store, "k", makeToken({ version: 1 }), { _tag: "Absent" }))
      assert.isFalse(yield* cas(store, "k", makeToken({ version: 2 }), { _tag: "Version", version: 1 }))
      assert.strictEqual((yield* store.remove("k", { _tag: "Absent" }))._tag, "Written")
      assert.deepStrictEqual(calls, ["saveIf Absent 1", "saveIf Version 2", "load", "saveIf Absent none"])
      calls.length = 0
      const plain = yield* make({
        load: () => Effect.sync(() => calls.push("load")).pipe(Effect.as(Option.none())),
        save: () => Effect.sync(() => void calls.push("save"))
      })
      assert.isTrue(yield* cas(plain, "k", makeToken({ version: 1 }), { _tag: "Absent" }))
      assert.isFalse(yield* cas(plain, "k", makeToken({ version: 2 }), { _tag: "Version", version: 1 }))
      assert.deepStrictEqual(calls, ["load", "save", "load"])
    }))

  it.effect("a failing saveIf fails the conditional set with StoreError", () =>
    Effect.gen(function*() {
      const store = yield* make({
        load: () => Effect.succeedNone,
        save: () => Effect.void,
        saveIf: () => Effect.fail(new DatabaseError({ statement: secretAccess }))
      })
      const error = yield* Effect.flip(cas(store, "k", makeToken(), { _tag: "Absent" }))
      assert.strictEqual(error.reason, "Set")
      assert.include(error.message, "saveIf callback failed with DatabaseError")
      assertNoSecret(error.message)
    }))

  class Database extends Context.Tag("test/Database")<Database, Ref.Ref<HashMap.HashMap<string, Token>>>() {}

  it.effect("callbacks may require services, taken when the layer is built", () =>
    Effect.gen(function*() {
      const rows = yield* Ref.make(HashMap.empty<string, Token>())
      const layer = TokenStore.layerCallbacks({
        load: (key) => Effect.flatMap(Database, (db) => Effect.map(Ref.get(db), HashMap.get(key))),
        save: (key, token) =>
          Effect.flatMap(Database, (db) =>
            Ref.update(db, (map) =>
              Option.match(token, {
                onNone: () => HashMap.remove(map, key),
                onSome: (token) => HashMap.set(map, key, token)
              })))
      }).pipe(Layer.provide(Layer.succeed(Database, rows)))
      const token = makeToken()
      yield* Effect.flatMap(TokenStore.TokenStore, (store) => put(store, "k", token)).pipe(Effect.provide(layer))
      assertToken(HashMap.get(yield* Ref.get(rows), "k"), token)
    }))
})

// -----------------------------------------------------------------------------
// expectations
// -----------------------------------------------------------------------------

describe("expectations", () => {
  it("expectationOf describes the current value", () => {
    assert.deepStrictEqual(TokenStore.expectationOf(Option.none()), { _tag: "Absent" })
    assert.deepStrictEqual(TokenStore.expectationOf(Option.some(makeToken({ version: 4 }))), {
      _tag: "Version",
      version: 4
    })
  })

  it("matches compares presence and version", () => {
    const token = Option.some(makeToken({ version: 4 }))
    assert.isTrue(TokenStore.matches(Option.none(), { _tag: "Absent" }))
    assert.isFalse(TokenStore.matches(token, { _tag: "Absent" }))
    assert.isTrue(TokenStore.matches(token, { _tag: "Version", version: 4 }))
    assert.isFalse(TokenStore.matches(token, { _tag: "Version", version: 3 }))
    assert.isFalse(TokenStore.matches(Option.none(), { _tag: "Version", version: 4 }))
  })
})
