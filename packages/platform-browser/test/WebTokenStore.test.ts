// @vitest-environment happy-dom
import { Scopes, Token, TokenStore } from "@effect-oauth/core"
import { TabCoordination, WebTokenStore } from "@effect-oauth/platform-browser"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Option, Redacted } from "effect"
import { put, tokenStoreContract } from "../../core/test/TokenStoreContract.js"

tokenStoreContract("WebTokenStore.layerSessionStorage", WebTokenStore.layerSessionStorage(), {
  sharedBetweenBuilds: true
})
tokenStoreContract("WebTokenStore.layerLocalStorage", WebTokenStore.layerLocalStorage(), { sharedBetweenBuilds: true })
tokenStoreContract(
  "TabCoordination over sessionStorage",
  TabCoordination.layer().pipe(Layer.provide(WebTokenStore.layerSessionStorage({ prefix: "coordinated/" }))),
  { sharedBetweenBuilds: true }
)

const token = new Token.Token({
  accessToken: Redacted.make("access-1"),
  tokenType: "Bearer",
  refreshToken: Option.some(Redacted.make("refresh-1")),
  expiresAt: Option.some(1_700_000_060_000),
  issuedAt: 1_700_000_000_000,
  scopes: Scopes.make("read"),
  version: 3
})

describe("WebTokenStore", () => {
  it.effect("sessionStorage holds the versioned format, never in plain sight of the key", () =>
    Effect.gen(function*() {
      const store = yield* TokenStore.TokenStore
      yield* put(store, "user/a", token)
      const raw = globalThis.sessionStorage.getItem("effect-oauth/token/user/a")
      assert.isNotNull(raw)
      assert.include(raw!, "\"version\"")
      const read = yield* store.get("user/a")
      assert.strictEqual(Option.getOrThrow(read).version, 3)
    }).pipe(Effect.provide(WebTokenStore.layerSessionStorage())))

  it.effect("a corrupt value in localStorage reads as absent and is not lost by a read", () =>
    Effect.gen(function*() {
      globalThis.localStorage.setItem("effect-oauth/token/user/b", "{not json")
      const store = yield* TokenStore.TokenStore
      assert.isTrue(Option.isNone(yield* store.get("user/b")))
      assert.strictEqual(globalThis.localStorage.getItem("effect-oauth/token/user/b"), "{not json")
    }).pipe(Effect.provide(WebTokenStore.layerLocalStorage())))

  it.effect("a storage that refuses a write (quota) fails with a StoreError naming the call, not the token", () => {
    const full: Pick<Storage, "getItem" | "setItem" | "removeItem"> = {
      getItem: () => null,
      setItem: () => {
        throw new DOMException("full", "QuotaExceededError")
      },
      removeItem: () => undefined
    }
    return Effect.acquireUseRelease(
      Effect.sync(() => {
        const real = Object.getOwnPropertyDescriptor(globalThis, "localStorage")!
        Object.defineProperty(globalThis, "localStorage", { value: full, configurable: true })
        return real
      }),
      () =>
        Effect.gen(function*() {
          const store = yield* TokenStore.TokenStore
          const error = yield* Effect.flip(store.set("user/c", token, { _tag: "Absent" }))
          assert.strictEqual(error.reason, "Set")
          assert.include(error.message, "localStorage.setItem(effect-oauth/token/user/c)")
          assert.notInclude(error.message, "access-1")
        }).pipe(Effect.provide(WebTokenStore.layerLocalStorage())),
      (real) => Effect.sync(() => Object.defineProperty(globalThis, "localStorage", real))
    )
  })
})
