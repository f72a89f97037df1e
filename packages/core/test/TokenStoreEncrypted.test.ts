import { ConfigurationError } from "@effect-oauth/core/OAuthError"
import * as TokenStore from "@effect-oauth/core/TokenStore"
import * as KeyValueStore from "@effect/platform/KeyValueStore"
import { assert, describe, it } from "@effect/vitest"
import { Cause, Config, ConfigProvider, Effect, Either, Exit, Layer, Option, Redacted } from "effect"
import { assertToken, captureLogs, contractKeys, makeToken, tokenStoreContract } from "./TokenStoreContract.js"

const secretAccess = "access-SECRET-9f2c"
const secretRefresh = "refresh-SECRET-51ab"
const keyOne = "Q29udHJhY3Qga2V5IG51bWJlciBvbmUsIDMyIGJ5dGU="
const keyTwo = "Q29udHJhY3Qga2V5IG51bWJlciB0d28sIDMyIGJ5dGU="
const prefix = "effect-oauth/token/"

tokenStoreContract(
  "TokenStore.encrypted over layerMemory",
  TokenStore.layerMemory.pipe(TokenStore.encrypted(contractKeys))
)

/** One in-memory KeyValueStore, so tests can read and change what the wrapped store holds. */
const makeKv = Effect.provide(KeyValueStore.KeyValueStore, KeyValueStore.layerMemory)

const storeOver = (kv: KeyValueStore.KeyValueStore, keys: TokenStore.encrypted.Keys) =>
  Effect.provide(
    TokenStore.TokenStore,
    TokenStore.layerKeyValueStore().pipe(
      TokenStore.encrypted(keys),
      Layer.provide(Layer.succeed(KeyValueStore.KeyValueStore, kv))
    )
  )

const rawToken = (kv: KeyValueStore.KeyValueStore, key: string) =>
  Effect.map(kv.get(prefix + key), (text) => Either.getOrThrow(TokenStore.decodeStored(Option.getOrThrow(text))))

const assertAbsentAndLogged = (read: Option.Option<unknown>, lines: ReadonlyArray<string>, words: string) => {
  assert.isTrue(Option.isNone(read))
  assert.isTrue(lines.some((line) => line.includes("corrupt") && line.includes(words)), lines.join("\n"))
  for (const line of lines) {
    for (const secret of [secretAccess, secretRefresh, keyOne, keyTwo]) assert.notInclude(line, secret)
  }
}

const only = (id: string, key: string): TokenStore.encrypted.Keys => ({ current: { id, key: Redacted.make(key) } })

describe("TokenStore.encrypted", () => {
  it.effect("the wrapped store holds only the sealed value and the version: no secret, lifetime or scope", () =>
    Effect.gen(function*() {
      const kv = yield* makeKv
      const store = yield* storeOver(kv, only("k1", keyOne))
      yield* store.set("slot", makeToken({ version: 9 }), { _tag: "Absent" })
      const text = Option.getOrThrow(yield* kv.get(prefix + "slot"))
      for (const hidden of [secretAccess, secretRefresh, "identify", "chat.write", "1700000086400000"]) {
        assert.notInclude(text, hidden)
      }
      const sealed = yield* rawToken(kv, "slot")
      assert.strictEqual(sealed.version, 9)
      assert.match(Redacted.value(sealed.accessToken), /^eo1\.k1\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]+$/)
      assertToken(yield* store.get("slot"), makeToken({ version: 9 }))
    }))

  it.effect("a conflict answers the stored token decrypted; remove is checked against the version", () =>
    Effect.gen(function*() {
      const kv = yield* makeKv
      const store = yield* storeOver(kv, only("k1", keyOne))
      yield* store.set("slot", makeToken({ version: 3 }), { _tag: "Absent" })
      const result = yield* store.set("slot", makeToken({ version: 9 }), { _tag: "Version", version: 2 })
      assert.strictEqual(result._tag, "Conflict")
      if (result._tag === "Conflict") assertToken(result.current, makeToken({ version: 3 }))
      const refused = yield* store.remove("slot", { _tag: "Version", version: 2 })
      assert.strictEqual(refused._tag, "Conflict")
      assert.strictEqual((yield* store.remove("slot", { _tag: "Version", version: 3 }))._tag, "Written")
      assert.isTrue(Option.isNone(yield* store.get("slot")))
    }))

  it.effect("each write uses a fresh IV: the same token twice gives two different values", () =>
    Effect.gen(function*() {
      const kv = yield* makeKv
      const store = yield* storeOver(kv, only("k1", keyOne))
      yield* store.set("a", makeToken(), { _tag: "Absent" })
      yield* store.set("b", makeToken(), { _tag: "Absent" })
      const a = Redacted.value((yield* rawToken(kv, "a")).accessToken)
      const b = Redacted.value((yield* rawToken(kv, "b")).accessToken)
      assert.notStrictEqual(a, b)
    }))

  it.effect("a value copied to another slot does not decrypt there: absent, logged without secrets", () =>
    Effect.gen(function*() {
      const kv = yield* makeKv
      const store = yield* storeOver(kv, only("k1", keyOne))
      yield* store.set("alice", makeToken(), { _tag: "Absent" })
      yield* kv.set(prefix + "mallory", Option.getOrThrow(yield* kv.get(prefix + "alice")))
      const [read, lines] = yield* captureLogs(store.get("mallory"))
      assertAbsentAndLogged(read, lines, "does not decrypt")
      assert.isTrue(Option.isSome(yield* store.get("alice")))
    }))

  it.effect("rotation: values under the previous key still decrypt, new writes use the current key", () =>
    Effect.gen(function*() {
      const kv = yield* makeKv
      const before = yield* storeOver(kv, only("k1", keyOne))
      yield* before.set("slot", makeToken({ version: 1 }), { _tag: "Absent" })
      const during = yield* storeOver(kv, {
        current: { id: "k2", key: Redacted.make(keyTwo) },
        previous: [{ id: "k1", key: Redacted.make(keyOne) }]
      })
      assertToken(yield* during.get("slot"), makeToken({ version: 1 }))
      assert.strictEqual(
        (yield* during.set("slot", makeToken({ version: 2 }), { _tag: "Version", version: 1 }))._tag,
        "Written"
      )
      assert.match(Redacted.value((yield* rawToken(kv, "slot")).accessToken), /^eo1\.k2\./)
      // Once the old key is dropped, only what it encrypted becomes unreadable.
      yield* before.set("old", makeToken({ version: 1 }), { _tag: "Absent" })
      const after = yield* storeOver(kv, only("k2", keyTwo))
      assertToken(yield* after.get("slot"), makeToken({ version: 2 }))
      const [read, lines] = yield* captureLogs(after.get("old"))
      assertAbsentAndLogged(read, lines, "unknown key")
    }))

  it.effect("a key with another id but the same bytes does not open values of the first id", () =>
    Effect.gen(function*() {
      const kv = yield* makeKv
      yield* (yield* storeOver(kv, only("k1", keyOne))).set("slot", makeToken(), { _tag: "Absent" })
      // The envelope names k1; a store whose k1 is another key fails authentication.
      const [read, lines] = yield* captureLogs((yield* storeOver(kv, only("k1", keyTwo))).get("slot"))
      assertAbsentAndLogged(read, lines, "does not decrypt")
    }))

  it.effect("an altered ciphertext, IV or version is absent, logged", () =>
    Effect.gen(function*() {
      const kv = yield* makeKv
      const store = yield* storeOver(kv, only("k1", keyOne))
      yield* store.set("slot", makeToken({ version: 4 }), { _tag: "Absent" })
      const sealed = yield* rawToken(kv, "slot")
      const [, id, iv, body] = Redacted.value(sealed.accessToken).split(".") as [string, string, string, string]
      const flip = (text: string) => (text[0] === "A" ? "B" : "A") + text.slice(1)
      const variants: ReadonlyArray<readonly [string, Parameters<typeof makeToken>[0], string]> = [
        ["ciphertext", { accessToken: Redacted.make(`eo1.${id}.${iv}.${flip(body)}`), version: 4 }, "does not decrypt"],
        ["iv", { accessToken: Redacted.make(`eo1.${id}.${flip(iv)}.${body}`), version: 4 }, "does not decrypt"],
        ["version", { accessToken: sealed.accessToken, version: 5 }, "version does not match"],
        ["shape", { accessToken: Redacted.make(`eo1.${id}.${body}`), version: 4 }, "not encrypted"],
        ["iv length", { accessToken: Redacted.make(`eo1.${id}.AAAA.${body}`), version: 4 }, "malformed"]
      ]
      for (const [label, fields, words] of variants) {
        const altered = makeToken({
          ...fields,
          refreshToken: Option.none(),
          expiresAt: Option.none(),
          issuedAt: 0
        })
        yield* kv.set(prefix + "slot", Either.getOrThrow(TokenStore.encodeStored(altered)))
        const [read, lines] = yield* captureLogs(store.get("slot"))
        assert.isTrue(Option.isNone(read), label)
        assertAbsentAndLogged(read, lines, words)
      }
    }))

  it.effect("a token stored before encryption was turned on is absent (not trusted), logged", () =>
    Effect.gen(function*() {
      const kv = yield* makeKv
      const plain = yield* Effect.provide(
        TokenStore.TokenStore,
        TokenStore.layerKeyValueStore().pipe(Layer.provide(Layer.succeed(KeyValueStore.KeyValueStore, kv)))
      )
      yield* plain.set("slot", makeToken(), { _tag: "Absent" })
      const [read, lines] = yield* captureLogs((yield* storeOver(kv, only("k1", keyOne))).get("slot"))
      assertAbsentAndLogged(read, lines, "not encrypted")
    }))

  it.effect("keys from Config.redacted", () =>
    Effect.gen(function*() {
      const kv = yield* makeKv
      const store = yield* storeOver(kv, {
        current: { id: "env", key: Config.redacted("TOKEN_KEY") }
      }).pipe(Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["TOKEN_KEY", keyOne]]))))
      yield* store.set("slot", makeToken(), { _tag: "Absent" })
      assertToken(yield* (yield* storeOver(kv, only("env", keyOne))).get("slot"), makeToken())
    }))

  it.effect("bad keys fail the layer with ConfigurationError, never showing the key", () =>
    Effect.gen(function*() {
      const kv = yield* makeKv
      const short = btoa("only sixteen byt")
      const cases: ReadonlyArray<readonly [string, TokenStore.encrypted.Keys, string]> = [
        ["short", only("k", short), "not 32 bytes"],
        ["not base64", only("k", "!!!!" + keyOne.slice(4)), "not 32 bytes"],
        ["bad id", only("k.1", keyOne), "must be 1 to 64"],
        ["empty id", only("", keyOne), "must be 1 to 64"],
        ["duplicate", {
          current: { id: "k", key: Redacted.make(keyOne) },
          previous: [{ id: "k", key: Redacted.make(keyTwo) }]
        }, "two encryption keys"],
        ["missing config", { current: { id: "k", key: Config.redacted("NO_SUCH_KEY") } }, "could not be read"]
      ]
      for (const [label, keys, words] of cases) {
        const exit = yield* Effect.exit(
          storeOver(kv, keys).pipe(Effect.withConfigProvider(ConfigProvider.fromMap(new Map())))
        )
        assert.isTrue(Exit.isFailure(exit), label)
        const error = Option.getOrThrow(
          Cause.failureOption((exit as Exit.Failure<unknown, ConfigurationError>).cause)
        )
        assert.instanceOf(error, ConfigurationError, label)
        assert.include(error.message, words, label)
        for (const secret of [keyOne, keyTwo, short]) assert.notInclude(JSON.stringify(error) + error.message, secret)
      }
    }))

  it.effect("the refresh lock of the wrapped store is kept; a store without one stays without", () =>
    Effect.gen(function*() {
      const calls: Array<string> = []
      const locking = Layer.effect(
        TokenStore.TokenStore,
        Effect.map(TokenStore.makeMemory, (inner) => ({
          ...inner,
          withRefreshLock: <A, E>(key: string, refresh: Effect.Effect<A, E>) =>
            Effect.zipRight(Effect.sync(() => calls.push(key)), refresh)
        }))
      )
      const wrapped = yield* Effect.provide(
        TokenStore.TokenStore,
        locking.pipe(TokenStore.encrypted(only("k", keyOne)))
      )
      assert.strictEqual(yield* wrapped.withRefreshLock!("slot", Effect.succeed(7)), 7)
      assert.deepStrictEqual(calls, ["slot"])
      const plain = yield* Effect.provide(
        TokenStore.TokenStore,
        TokenStore.layerMemory.pipe(TokenStore.encrypted(only("k", keyOne)))
      )
      assert.isUndefined(plain.withRefreshLock)
    }))
})
