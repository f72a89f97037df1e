// @vitest-environment happy-dom
import type { ScopeRules } from "@effect-oauth/core"
import { AuthorizedHttpClient, OAuthClient, Scopes, Token, TokenStore } from "@effect-oauth/core"
import { BrowserOAuth, TabCoordination } from "@effect-oauth/platform-browser"
import { TestServer } from "@effect-oauth/testing"
import { assert, describe, it } from "@effect/vitest"
import type { Scope } from "effect"
import { Context, Duration, Effect, Either, Fiber, Layer, Option, Redacted, Stream, TestClock } from "effect"
import { beforeEach } from "vitest"
import { put } from "../../core/test/TokenStoreContract.js"
import { FakeChannel, FakeLocks, useFakeTabs } from "./fakeTabs.js"

const fakes = useFakeTabs()
beforeEach(() => {
  globalThis.localStorage.clear()
  globalThis.sessionStorage.clear()
})

// The SPA asks for "read": its layer provides `Granted` for that scope.
type TabServices = BrowserOAuth.Services<string, ScopeRules.ScopeRules<string>, "read">
type Tab = Context.Context<TabServices>

type StoreKind = "memory" | "sessionStorage" | "localStorage"

/** Each tab's store of `kind`. */
const storeOf = (kind: StoreKind): BrowserOAuth.Store =>
  kind === "memory"
    ? BrowserOAuth.memory
    : kind === "sessionStorage"
    ? BrowserOAuth.sessionStorage
    : BrowserOAuth.localStorage()

/** A test server, and a way to open tabs of the SPA on it (each tab builds its own layers). */
const serverWithTabs = (options: TestServer.Options = {}) =>
  Effect.gen(function*() {
    const context = yield* Layer.build(TestServer.layerInMemory(options))
    const server = Context.get(context, TestServer.TestServer)
    const open = (kind: StoreKind): Effect.Effect<Tab, never, Scope.Scope> =>
      Layer.build(
        BrowserOAuth.layerWith({
          provider: server.provider(),
          client: server.publicClient,
          scopes: Scopes.make("read"),
          redirectUri: `${globalThis.location.origin}/callback`,
          store: storeOf(kind),
          navigate: () => Effect.void
        }).pipe(Layer.provide(Layer.succeedContext(context)), Layer.orDie)
      )
    // A login's result, as `completeLogin` hands it to the tab's client.
    const signIn = (tab: Tab, lifetimeSeconds = 3600) =>
      Effect.gen(function*() {
        const issued = yield* server.issueToken({
          scopes: ["read"],
          lifetimeSeconds,
          clientId: server.publicClient.clientId
        })
        const token = TestServer.toToken(issued, yield* TestClock.currentTimeMillis)
        yield* inTab(tab, Effect.flatMap(OAuthClient.OAuthClient, (client) => client.setToken(token)))
        return token
      })
    return { server, open, signIn }
  })

const inTab = <A, E>(tab: Tab, effect: Effect.Effect<A, E, TabServices>) => Effect.provide(effect, tab)

/** What the tab's client holds right now, without asking it for a token (which would re-read the store). */
const held = (tab: Tab) =>
  inTab(
    tab,
    Effect.flatMap(OAuthClient.OAuthClient, (client) => Effect.map(Stream.runHead(client.changes), Option.flatten))
  )

const stored = (tab: Tab) =>
  inTab(
    tab,
    Effect.flatMap(OAuthClient.OAuthClient, (client) =>
      Effect.flatMap(TokenStore.TokenStore, (store) => store.get(client.key)))
  )

/** Lets messages arrive and the tabs act on them (a refresh holds the lock a 50 ms settle time). */
const settle = Effect.gen(function*() {
  for (let i = 0; i < 10; i++) yield* TestClock.adjust(Duration.millis(20))
})

/** Runs `effect` while the clock moves on (a refresh may wait for the lock another tab holds). */
const whileSettling = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.fork(effect)
    yield* settle
    return yield* Fiber.join(fiber)
  })

const tokenRequests = (server: TestServer.TestServer.Service) =>
  Effect.map(server.counters, (c) => c.tokenRequests.refresh_token.ok + c.tokenRequests.refresh_token.error)

const secretsOf = (token: Token.Token): Array<string> => [
  Redacted.value(token.accessToken),
  ...Option.toArray(Option.map(token.refreshToken, Redacted.value))
]

/** The posted messages that hold one of `secrets`, or are anything but a key and a version. */
const badMessages = (secrets: ReadonlyArray<string>) =>
  FakeChannel.posted.filter((message) => {
    const text = JSON.stringify(message)
    return secrets.some((secret) => text.includes(secret)) ||
      JSON.stringify(Object.keys(message as object).sort()) !== JSON.stringify(["_tag", "key", "version"])
  })

describe("TabCoordination", () => {
  it.scoped("two tabs on localStorage, 1-second rotating tokens, 10 s: one refresh per window, no token on the channel", () =>
    Effect.gen(function*() {
      const { open, server, signIn } = yield* serverWithTabs({
        accessTokenLifetimeSeconds: 1,
        rotateRefreshTokens: true
      })
      const tabs = [yield* open("localStorage"), yield* open("localStorage")] as const
      const first = yield* signIn(tabs[0], 1)
      const secrets = new Set(secretsOf(first))
      const call = (tab: Tab) =>
        inTab(
          tab,
          Effect.flatMap(AuthorizedHttpClient.AuthorizedHttpClient, (http) => http.get(server.meEndpoint))
        ).pipe(Effect.map((response) => response.status))
      const statuses: Array<number> = []
      for (let step = 0; step < 100; step++) {
        // A call may wait for the lock another tab holds for its settle time: the clock moves on.
        const fiber = yield* Effect.fork(call(tabs[step % 2]!))
        yield* TestClock.adjust(Duration.millis(100))
        statuses.push(yield* Fiber.join(fiber))
        for (const tab of tabs) {
          for (const token of Option.toArray(yield* held(tab))) secretsOf(token).forEach((s) => secrets.add(s))
        }
      }
      const counters = yield* server.counters
      assert.strictEqual(counters.invalidGrant, 0)
      assert.isTrue(statuses.every((status) => status === 200), `statuses: ${[...new Set(statuses)]}`)
      const refreshes = counters.tokenRequests.refresh_token.ok
      assert.isAtLeast(refreshes, 8)
      assert.isAtMost(refreshes, 12, `refreshes: ${refreshes}`)
      assert.isAbove(fakes.locks().requested, 0)
      assert.isAtLeast(secrets.size, 2 * refreshes)
      assert.isAtLeast(FakeChannel.posted.length, refreshes)
      assert.deepStrictEqual(badMessages([...secrets]), [])
    }))

  it.scoped("in every store mode, no message on the channel holds a token: login, refresh, logout", () =>
    Effect.gen(function*() {
      const { open, signIn } = yield* serverWithTabs()
      for (const kind of ["memory", "sessionStorage", "localStorage"] as const) {
        FakeChannel.posted.length = 0
        const tab = yield* open(kind)
        const other = yield* open(kind)
        const first = yield* signIn(tab)
        const second = yield* whileSettling(
          inTab(tab, Effect.flatMap(OAuthClient.OAuthClient, (client) => client.refresh))
        )
        yield* inTab(tab, BrowserOAuth.logout)
        yield* inTab(other, Effect.flatMap(OAuthClient.OAuthClient, (client) => Effect.either(client.token)))
        yield* settle
        assert.deepStrictEqual(badMessages([...secretsOf(first), ...secretsOf(second)]), [], kind)
        // Only tabs that share a store have anything to tell each other.
        assert.strictEqual(FakeChannel.posted.length, kind === "localStorage" ? 2 : 0, kind)
      }
      // TabCoordination over any store announces versions only.
      FakeChannel.posted.length = 0
      const store = yield* Effect.provide(
        TokenStore.TokenStore,
        yield* Layer.build(TabCoordination.layer().pipe(Layer.provide(TokenStore.layerMemory)))
      )
      const token = new Token.Token({
        accessToken: Redacted.make("access-secret"),
        tokenType: "Bearer",
        refreshToken: Option.some(Redacted.make("refresh-secret")),
        expiresAt: Option.none(),
        issuedAt: 0,
        scopes: Scopes.empty,
        version: 7
      })
      assert.isTrue(yield* put(store, "k", token))
      assert.deepStrictEqual(FakeChannel.posted, [{ _tag: "Stored", key: "k", version: 7 }])
    }))

  it.scoped("a forged message changes neither the stored nor the served token, and sends no token request", () =>
    Effect.gen(function*() {
      const { open, server, signIn } = yield* serverWithTabs()
      for (const kind of ["memory", "localStorage"] as const) {
        globalThis.localStorage.clear()
        const tab = yield* open(kind)
        const own = yield* signIn(tab)
        const key = yield* inTab(tab, Effect.map(OAuthClient.OAuthClient, (client) => client.key))
        const forged = new Token.Token({ ...own, accessToken: Redacted.make("forged"), version: own.version + 100 })
        const forger = new FakeChannel("effect-oauth/tokens")
        forger.postMessage({ _tag: "Set", key, token: Either.getOrThrow(TokenStore.encodeStored(forged)) })
        forger.postMessage({ _tag: "Stored", key, version: own.version + 100 })
        forger.postMessage({ _tag: "Stored", key, version: "NaN" })
        forger.postMessage("garbage")
        forger.close()
        yield* settle
        const requests = yield* tokenRequests(server)
        assert.strictEqual(requests, 0, kind)
        assert.strictEqual(Option.getOrThrow(yield* stored(tab)).version, own.version, kind)
        const served = yield* inTab(tab, Effect.flatMap(OAuthClient.OAuthClient, (client) => client.token))
        assert.strictEqual(Redacted.value(served.accessToken), Redacted.value(own.accessToken), kind)
      }
    }))

  it.scoped("tabs with the memory store do not share: each tab's session is its own", () =>
    Effect.gen(function*() {
      const { open, signIn } = yield* serverWithTabs()
      const a = yield* open("memory")
      const b = yield* open("memory")
      yield* signIn(a)
      yield* settle
      assert.isTrue(Option.isNone(yield* stored(b)))
      assert.isTrue(Option.isNone(yield* held(b)))
      const error = yield* inTab(b, Effect.flip(Effect.flatMap(OAuthClient.OAuthClient, (client) => client.token)))
      assert.strictEqual(error._tag, "@effect-oauth/ReauthorizationRequired")
    }))

  it.scoped("tabs on localStorage share by re-reading: a login and a refresh in one tab reach the other, which sends nothing", () =>
    Effect.gen(function*() {
      const { open, server, signIn } = yield* serverWithTabs()
      const a = yield* open("localStorage")
      const b = yield* open("localStorage")
      // A signs in: B, open before, adopts the token from the store without being asked.
      const first = yield* signIn(a)
      yield* settle
      assert.strictEqual(Option.getOrThrow(yield* held(b)).version, first.version)
      // A refreshes: B holds the old token and adopts the new one, again from the store.
      const second = yield* whileSettling(
        inTab(a, Effect.flatMap(OAuthClient.OAuthClient, (client) => client.refresh))
      )
      yield* settle
      const inB = Option.getOrThrow(yield* held(b))
      assert.strictEqual(inB.version, second.version)
      assert.strictEqual(Redacted.value(inB.accessToken), Redacted.value(second.accessToken))
      assert.strictEqual(yield* tokenRequests(server), 1)
    }))

  it.effect("the lock is held for the settle time after the refresh, without making the refresh's callers wait", () =>
    Effect.gen(function*() {
      const locks = new FakeLocks()
      const first = yield* TabCoordination.withWebLock(locks, "k", Effect.succeed(1), Duration.millis(50))
      assert.strictEqual(first, 1)
      const second = yield* Effect.fork(TabCoordination.withWebLock(locks, "k", Effect.succeed(2)))
      yield* TestClock.adjust(Duration.millis(40))
      assert.isTrue(Option.isNone(yield* Fiber.poll(second)), "the lock was released before the settle time")
      yield* TestClock.adjust(Duration.millis(20))
      assert.strictEqual(yield* Fiber.join(second), 2)
    }))

  it.effect("a lock request the browser refuses runs the refresh without the lock instead of hanging", () =>
    Effect.gen(function*() {
      const refusing = {
        request: () => Promise.reject(new Error("SecurityError"))
      }
      const result = yield* TabCoordination.withWebLock(refusing, "k", Effect.succeed(42))
      assert.strictEqual(result, 42)
    }))

  it.scoped("without Web Locks, the store's own lock (here none) is kept", () =>
    Effect.gen(function*() {
      Object.defineProperty(globalThis, "navigator", { value: {}, configurable: true, writable: true })
      assert.isTrue(Option.isNone(TabCoordination.lockManager()))
      const store = yield* Effect.flatMap(TokenStore.TokenStore, Effect.succeed).pipe(
        Effect.provide(TabCoordination.layer().pipe(Layer.provide(TokenStore.layerMemory)))
      )
      assert.isUndefined(store.withRefreshLock)
    }))
})
