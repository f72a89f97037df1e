import { AuthorizedHttpClient, OAuthClient, Scopes, Token, TokenStore } from "@effect-oauth/core"
import { TabCoordination } from "@effect-oauth/platform-browser"
import { TestServer } from "@effect-oauth/testing"
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Fiber, Layer, Option, Redacted, TestClock } from "effect"
import { afterEach, beforeEach } from "vitest"

/** A stand-in for `navigator.locks`: one FIFO queue per lock name, shared by the "tabs". */
class FakeLocks {
  private readonly queues = new Map<string, Array<() => void>>()
  private readonly held = new Set<string>()
  requested = 0
  request(name: string, options: { signal?: AbortSignal }, callback: () => Promise<void>): Promise<void> {
    this.requested++
    return new Promise((resolve, reject) => {
      const run = () => {
        this.held.add(name)
        callback().finally(() => {
          this.held.delete(name)
          resolve()
          this.queues.get(name)?.shift()?.()
        })
      }
      if (!this.held.has(name)) return run()
      const queue = this.queues.get(name) ?? []
      this.queues.set(name, queue)
      queue.push(run)
      options.signal?.addEventListener("abort", () => {
        queue.splice(queue.indexOf(run), 1)
        reject(new Error("aborted"))
      })
    })
  }
}

/** A stand-in for `BroadcastChannel`: delivers to every other instance of the same name. */
class FakeChannel {
  static readonly open = new Set<FakeChannel>()
  onmessage: ((event: { readonly data: unknown }) => void) | null = null
  constructor(readonly name: string) {
    FakeChannel.open.add(this)
  }
  postMessage(data: unknown) {
    for (const other of FakeChannel.open) {
      if (other !== this && other.name === this.name) queueMicrotask(() => other.onmessage?.({ data }))
    }
  }
  close() {
    FakeChannel.open.delete(this)
  }
}

const globals = globalThis as unknown as Record<string, unknown>
const saved = { navigator: globals.navigator, BroadcastChannel: globals.BroadcastChannel }
let locks: FakeLocks
beforeEach(() => {
  locks = new FakeLocks()
  Object.defineProperty(globalThis, "navigator", { value: { locks }, configurable: true, writable: true })
  globals.BroadcastChannel = FakeChannel
})
afterEach(() => {
  Object.defineProperty(globalThis, "navigator", { value: saved.navigator, configurable: true, writable: true })
  globals.BroadcastChannel = saved.BroadcastChannel
})

/** One tab: its own memory store, coordinated, an OAuthClient for the same user. */
const tab = (server: TestServer.TestServer.Service) =>
  AuthorizedHttpClient.layer().pipe(
    Layer.provideMerge(
      OAuthClient.layer({ provider: server.provider(), client: server.client, session: OAuthClient.user("u") })
    ),
    Layer.provideMerge(TabCoordination.layer().pipe(Layer.provide(TokenStore.layerMemory)))
  )

describe("TabCoordination", () => {
  it.effect("two tabs, 1-second tokens, rotating refresh tokens, 10 s: one refresh per window, no invalid_grant", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      const issued = yield* server.issueToken({ scopes: ["read"], lifetimeSeconds: 1 })
      const now = yield* TestClock.currentTimeMillis
      const first = TestServer.toToken(issued, now)
      const tabs = yield* Effect.all([Layer.build(tab(server)), Layer.build(tab(server))])
      // The first tab signs in; the second learns the token from the announcement.
      yield* Effect.flatMap(OAuthClient.OAuthClient, (client) => client.setToken(first)).pipe(
        Effect.provide(tabs[0])
      )
      yield* Effect.yieldNow()
      const call = (context: (typeof tabs)[number]) =>
        Effect.flatMap(AuthorizedHttpClient.AuthorizedHttpClient, (http) => http.get(server.meEndpoint)).pipe(
          Effect.map((response) => response.status),
          Effect.provide(context)
        )
      const statuses: Array<number> = []
      for (let step = 0; step < 100; step++) {
        // A call that waits for a refresh waits for the lock's settle time too: the clock moves on.
        const fiber = yield* Effect.fork(call(tabs[step % 2]!))
        yield* TestClock.adjust(Duration.millis(100))
        statuses.push(yield* Fiber.join(fiber))
      }
      const counters = yield* server.counters
      assert.strictEqual(counters.invalidGrant, 0)
      assert.isTrue(statuses.every((status) => status === 200), `statuses: ${[...new Set(statuses)]}`)
      const refreshes = counters.tokenRequests.refresh_token.ok
      assert.isAtLeast(refreshes, 8)
      assert.isAtMost(refreshes, 12, `refreshes: ${refreshes}`)
      assert.isAbove(locks.requested, 0)
    }).pipe(
      Effect.scoped,
      Effect.provide(TestServer.layerInMemory({ accessTokenLifetimeSeconds: 1, rotateRefreshTokens: true }))
    ))

  it.effect("a logout in one tab is announced: the other tab's store forgets the token", () =>
    Effect.gen(function*() {
      const a = yield* Layer.build(TabCoordination.layer().pipe(Layer.provide(TokenStore.layerMemory)))
      const b = yield* Layer.build(TabCoordination.layer().pipe(Layer.provide(TokenStore.layerMemory)))
      const token = new Token.Token({
        accessToken: Redacted.make("a"),
        tokenType: "Bearer",
        refreshToken: Option.none(),
        expiresAt: Option.none(),
        issuedAt: 0,
        scopes: Scopes.empty,
        version: 1
      })
      const inA = Effect.flatMap(TokenStore.TokenStore, (store) => store.set("k", token)).pipe(Effect.provide(a))
      yield* inA
      yield* Effect.yieldNow()
      const readB = Effect.flatMap(TokenStore.TokenStore, (store) => store.get("k")).pipe(Effect.provide(b))
      assert.isTrue(Option.isSome(yield* readB))
      yield* Effect.flatMap(TokenStore.TokenStore, (store) => store.remove("k")).pipe(Effect.provide(a))
      yield* Effect.yieldNow()
      assert.isTrue(Option.isNone(yield* readB))
    }).pipe(Effect.scoped))

  it.effect("a lock request the browser refuses runs the refresh without the lock instead of hanging", () =>
    Effect.gen(function*() {
      const refusing = {
        request: () => Promise.reject(new Error("SecurityError"))
      }
      const result = yield* TabCoordination.withWebLock(refusing, "k", Effect.succeed(42))
      assert.strictEqual(result, 42)
    }))

  it.effect("without Web Locks, the store's own lock (here none) is kept", () =>
    Effect.gen(function*() {
      Object.defineProperty(globalThis, "navigator", { value: {}, configurable: true, writable: true })
      assert.isTrue(Option.isNone(TabCoordination.lockManager()))
      const store = yield* Effect.flatMap(TokenStore.TokenStore, Effect.succeed).pipe(
        Effect.provide(TabCoordination.layer().pipe(Layer.provide(TokenStore.layerMemory)))
      )
      assert.isUndefined(store.withRefreshLock)
    }).pipe(Effect.scoped))
})
