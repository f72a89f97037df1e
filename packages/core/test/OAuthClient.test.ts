import { ClientConfig, OAuthClient, OAuthError, Scopes, type Token, TokenStore } from "@effect-oauth/core"
import { TestServer } from "@effect-oauth/testing"
import { assert, describe, it } from "@effect/vitest"
import {
  Clock,
  ConfigProvider,
  Deferred,
  Duration,
  Effect,
  Exit,
  Fiber,
  Layer,
  Logger,
  Option,
  Redacted,
  Stream,
  Supervisor,
  TestClock
} from "effect"
import { put } from "./TokenStoreContract.js"

const cc = Scopes.make("read")

const counts = (grant: string) =>
  Effect.map(TestServer.TestServer, (server) => server).pipe(
    Effect.flatMap((server) => server.counters),
    Effect.map((counters) => {
      const entry = counters.tokenRequests[grant]
      return { ok: entry?.ok ?? 0, error: entry?.error ?? 0 }
    })
  )

/**
 * A clock whose wall time can jump ahead of its timers, as after a suspend or an NTP correction:
 * `TestClock.adjust` would instead fire every timer on the way.
 */
const JumpingClock = Effect.map(Effect.clock, (base) => {
  let offset = 0
  const clock: Clock.Clock & { jump: (by: Duration.DurationInput) => void } = {
    [Clock.ClockTypeId]: Clock.ClockTypeId,
    unsafeCurrentTimeMillis: () => base.unsafeCurrentTimeMillis() + offset,
    unsafeCurrentTimeNanos: () => base.unsafeCurrentTimeNanos() + BigInt(offset) * 1_000_000n,
    currentTimeMillis: Effect.sync(() => base.unsafeCurrentTimeMillis() + offset),
    currentTimeNanos: Effect.sync(() => base.unsafeCurrentTimeNanos() + BigInt(offset) * 1_000_000n),
    sleep: (duration) => base.sleep(duration),
    jump: (by) => {
      offset += Duration.toMillis(by)
    }
  }
  return clock
})

/** A server and an in-memory store; the client under test is built in the test's scope. */
const Env = (options?: TestServer.Options) => Layer.merge(TestServer.layerInMemory(options), TokenStore.layerMemory)

const makeClient = (session: OAuthClient.Session = OAuthClient.clientCredentials(cc), key?: string) =>
  Effect.flatMap(
    TestServer.TestServer,
    (server) =>
      OAuthClient.make({ provider: server.provider(), client: server.client, session, ...(key ? { key } : {}) })
  )

/** Signs a user in through the server's authorize endpoint and hands the token to the client. */
const login = (client: OAuthClient.OAuthClient.Service) =>
  Effect.gen(function*() {
    const server = yield* TestServer.TestServer
    const token = yield* server.issueToken({ scopes: ["read"], lifetimeSeconds: 3600, withRefreshToken: true })
    const now = yield* TestClock.currentTimeMillis
    yield* client.setToken(TestServer.toToken(token, now, 0))
  })

describe("OAuthClient", () => {
  it.scoped("1,000 concurrent callers of a cold client share one token request", () =>
    Effect.gen(function*() {
      const client = yield* makeClient()
      const tokens = yield* Effect.all(Array.from({ length: 1000 }, () => client.token), { concurrency: "unbounded" })
      assert.strictEqual(new Set(tokens.map((t) => Redacted.value(t.accessToken))).size, 1)
      assert.deepStrictEqual(yield* counts("client_credentials"), { ok: 1, error: 0 })
    }).pipe(Effect.provide(Env())))

  it.scoped("no token yet is not kept: a token another process or tab stores later is picked up", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      const client = yield* makeClient(OAuthClient.user("later"), "slot/later")
      const first = yield* Effect.flip(client.token)
      assert.strictEqual(first._tag, "@effect-oauth/ReauthorizationRequired")
      const issued = yield* server.issueToken({ scopes: ["read"], lifetimeSeconds: 3600 })
      const now = yield* TestClock.currentTimeMillis
      const store = yield* TokenStore.TokenStore
      yield* put(store, "slot/later", TestServer.toToken(issued, now))
      const token = yield* client.token
      assert.strictEqual(Redacted.value(token.accessToken), issued.accessToken)
    }).pipe(Effect.provide(Env())))

  it.scoped("a failed fetch is not cached: the next caller tries again", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      const client = yield* makeClient()
      // Every attempt of the first fetch fails with a transient error.
      yield* server.injectFaults(Array.from({ length: 4 }, () => ({ status: 503, body: "<h1>busy</h1>" })))
      const fiber = yield* Effect.fork(Effect.exit(client.token))
      yield* TestClock.adjust(Duration.minutes(1))
      const first = yield* Fiber.join(fiber)
      assert.isTrue(Exit.isFailure(first))
      const second = yield* client.token
      assert.strictEqual(second.version, 0)
    }).pipe(Effect.provide(Env())))

  it.scoped("refreshes proactively before expiry, so callers never wait for it", () =>
    Effect.gen(function*() {
      const client = yield* makeClient()
      const first = yield* client.token
      // 3600 s tokens: skew is 60 s, jitter at most 30 s more.
      yield* TestClock.adjust(Duration.seconds(3600 - 91))
      assert.deepStrictEqual(yield* counts("client_credentials"), { ok: 1, error: 0 })
      yield* TestClock.adjust(Duration.seconds(31))
      assert.deepStrictEqual(yield* counts("client_credentials"), { ok: 2, error: 0 })
      const second = yield* client.token
      assert.notStrictEqual(Redacted.value(second.accessToken), Redacted.value(first.accessToken))
      assert.strictEqual(second.version, first.version + 1)
    }).pipe(Effect.provide(Env())))

  it.scoped("24 simulated hours with 1-hour tokens: 24 refreshes and no failed call", () =>
    Effect.gen(function*() {
      const client = yield* makeClient()
      yield* client.token
      for (let minute = 0; minute < 24 * 60; minute += 5) {
        yield* TestClock.adjust(Duration.minutes(5))
        yield* client.token
      }
      const { error, ok } = yield* counts("client_credentials")
      assert.strictEqual(error, 0)
      assert.isAtLeast(ok, 24)
      assert.isAtMost(ok, 26)
    }).pipe(Effect.provide(Env())))

  it.scoped("the clock jumping 10 hours forward causes one refresh, not a storm", () =>
    Effect.gen(function*() {
      const clock = yield* JumpingClock
      const client = yield* Effect.withClock(makeClient(), clock)
      yield* Effect.withClock(client.token, clock)
      clock.jump(Duration.hours(10))
      yield* Effect.withClock(
        Effect.all(Array.from({ length: 50 }, () => client.token), { concurrency: "unbounded" }),
        clock
      )
      // The refresh fiber reschedules for the new token: nothing more for the next half hour.
      yield* TestClock.adjust(Duration.minutes(30))
      assert.deepStrictEqual(yield* counts("client_credentials"), { ok: 2, error: 0 })
    }).pipe(Effect.provide(Env())))

  it.scoped("after 10 hours asleep (timers late, wall clock ahead) the client refreshes once", () =>
    Effect.gen(function*() {
      const clock = yield* JumpingClock
      const client = yield* Effect.withClock(makeClient(), clock)
      yield* Effect.withClock(client.token, clock)
      yield* TestClock.adjust(Duration.minutes(30))
      clock.jump(Duration.hours(10))
      // The overdue timer fires on waking.
      yield* TestClock.adjust(Duration.minutes(30))
      yield* Effect.withClock(client.token, clock)
      assert.deepStrictEqual(yield* counts("client_credentials"), { ok: 2, error: 0 })
    }).pipe(Effect.provide(Env())))

  it.scoped("expires_in 0 is accepted without a hot refresh loop", () =>
    Effect.gen(function*() {
      const client = yield* makeClient()
      for (let i = 0; i < 600; i++) {
        yield* client.token
        yield* TestClock.adjust(Duration.millis(100))
      }
      const { error, ok } = yield* counts("client_credentials")
      assert.strictEqual(error, 0)
      // 60 simulated seconds, at most one refresh per 500 ms.
      assert.isAtMost(ok, 121)
    }).pipe(Effect.provide(Env({ accessTokenLifetimeSeconds: 0 }))))

  it.scoped("a 10-year expires_in neither refreshes at once nor overflows the timer", () =>
    Effect.gen(function*() {
      const client = yield* makeClient()
      yield* client.token
      for (let day = 0; day < 40; day++) yield* TestClock.adjust(Duration.days(1))
      yield* client.token
      assert.deepStrictEqual(yield* counts("client_credentials"), { ok: 1, error: 0 })
    }).pipe(Effect.provide(Env({ accessTokenLifetimeSeconds: 10 * 365 * 86400 }))))

  it.effect("closing the layer leaves no fiber running", () =>
    Effect.gen(function*() {
      const supervisor = yield* Supervisor.track
      yield* Effect.scoped(
        Effect.gen(function*() {
          const client = yield* makeClient()
          yield* client.token
          yield* TestClock.adjust(Duration.hours(2))
        }).pipe(Effect.supervised(supervisor))
      )
      const fibers = yield* supervisor.value
      for (const fiber of fibers) {
        assert.isTrue(Option.isSome(yield* Fiber.poll(fiber)), "a fiber is still running")
      }
    }).pipe(Effect.provide(Env())))

  it.scoped("a transient failure of the background refresh is retried with backoff", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      const client = yield* makeClient()
      yield* client.token
      // Every attempt of the first background refresh fails.
      yield* server.injectFaults(Array.from({ length: 4 }, () => ({ status: 503, body: "<html>down</html>" })))
      yield* TestClock.adjust(Duration.seconds(3600 - 30))
      yield* TestClock.adjust(Duration.seconds(120))
      const token = yield* client.token
      assert.strictEqual(token.version, 1)
      assert.strictEqual((yield* counts("client_credentials")).ok, 2)
    }).pipe(Effect.provide(Env())))

  it.scoped("a refused client-credentials grant is kept for its cool-down, then tried once more", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      const client = yield* makeClient()
      yield* client.token
      yield* server.resetSecret()
      const failure = yield* Effect.flip(client.refresh)
      assert.strictEqual(failure.reason, "ClientAuthentication")
      const before = yield* counts("client_credentials")
      // Within the cool-down (1 minute) neither callers nor the refresh fiber send anything.
      for (let i = 0; i < 5; i++) {
        yield* TestClock.adjust(Duration.seconds(11))
        assert.strictEqual((yield* Effect.flip(client.refresh)).reason, "ClientAuthentication")
      }
      assert.deepStrictEqual(yield* counts("client_credentials"), before)
      // After it, one more try (by the fiber); it fails again and the cool-down doubles.
      yield* TestClock.adjust(Duration.seconds(6))
      assert.deepStrictEqual(yield* counts("client_credentials"), { ok: before.ok, error: before.error + 1 })
      yield* TestClock.adjust(Duration.seconds(118))
      assert.deepStrictEqual(yield* counts("client_credentials"), { ok: before.ok, error: before.error + 1 })
      yield* TestClock.adjust(Duration.seconds(2))
      assert.deepStrictEqual(yield* counts("client_credentials"), { ok: before.ok, error: before.error + 2 })
    }).pipe(Effect.provide(Env())))

  it.scoped("a bot recovers from a refused grant without a restart once the grant is allowed again", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      const refused = JSON.stringify({ error: "unauthorized_client", error_description: "not allowed now" })
      yield* server.injectFaults([{ path: "/token", status: 400, body: refused }])
      const client = yield* OAuthClient.make({
        provider: server.provider(),
        client: server.client,
        session: OAuthClient.clientCredentials(cc),
        coolDown: Duration.seconds(3)
      })
      const first = yield* Effect.flip(client.token)
      assert.strictEqual(first.reason, "ErrorResponse")
      yield* TestClock.adjust(Duration.seconds(2))
      assert.strictEqual((yield* Effect.flip(client.token)).reason, "ErrorResponse")
      yield* TestClock.adjust(Duration.seconds(1))
      const token = yield* client.token
      assert.strictEqual(token.version >= 0, true)
      assert.strictEqual((yield* counts("client_credentials")).ok, 1)
    }).pipe(Effect.provide(Env())))

  it.scoped("Retry-After from the token endpoint holds every caller and the refresh fiber", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      const client = yield* OAuthClient.make({
        provider: server.provider(),
        client: server.client,
        session: OAuthClient.clientCredentials(cc),
        deadline: Duration.seconds(10)
      })
      const busy = { path: "/token", status: 429, headers: { "retry-after": "30" }, body: "{}" }
      yield* server.injectFaults([busy])
      // 30 s is longer than the deadline: the endpoint does not wait it out, and the callers get
      // RateLimited at once, with the time left.
      const error = yield* Effect.flip(client.token)
      assert.strictEqual(error.reason, "RateLimited")
      const callers = yield* Effect.forEach(
        Array.from({ length: 20 }, () => Effect.flip(client.token)),
        (e) => e,
        { concurrency: "unbounded" }
      )
      for (const e of callers) {
        assert.strictEqual(e.reason, "RateLimited")
        assert.strictEqual(e.reason === "RateLimited" && e.retryAfterMillis, 30_000)
      }
      assert.strictEqual((yield* server.counters).faults, 1)
      assert.strictEqual((yield* counts("client_credentials")).ok, 0)
      // 25 s on, the cool-down ends within the deadline: a caller now waits for it, then fetches.
      yield* TestClock.adjust(Duration.seconds(25))
      assert.strictEqual((yield* counts("client_credentials")).ok, 0)
      const waiting = yield* Effect.fork(client.token)
      yield* TestClock.adjust(Duration.seconds(4))
      assert.isTrue(Option.isNone(yield* Fiber.poll(waiting)))
      assert.strictEqual((yield* counts("client_credentials")).ok, 0)
      yield* TestClock.adjust(Duration.seconds(1))
      yield* Fiber.join(waiting)
      assert.strictEqual((yield* counts("client_credentials")).ok, 1)
      assert.strictEqual((yield* server.counters).faults, 1)
    }).pipe(Effect.provide(Env())))

  it.scoped("the lifetime counts from when the request was sent, not when its answer arrived", () =>
    Effect.gen(function*() {
      const client = yield* makeClient()
      const sent = yield* TestClock.currentTimeMillis
      const fiber = yield* Effect.fork(client.token)
      yield* TestClock.adjust(Duration.millis(800))
      const token = yield* Fiber.join(fiber)
      assert.strictEqual(token.issuedAt, sent)
      assert.strictEqual(Option.getOrThrow(token.expiresAt), sent + 3_600_000)
    }).pipe(Effect.provide(Env({ latencyMillis: 800 }))))

  it.scoped("the refresh lead follows the token endpoint's latency", () =>
    Effect.gen(function*() {
      // 2-second tokens from an endpoint that takes 300 ms: 10% of the lifetime (200 ms) would be
      // too late, so the lead is twice the request's duration (600 ms, plus jitter).
      const client = yield* makeClient()
      const fiber = yield* Effect.fork(client.token)
      yield* TestClock.adjust(Duration.millis(300))
      const first = yield* Fiber.join(fiber)
      const expiresAt = Option.getOrThrow(first.expiresAt)
      const now = yield* TestClock.currentTimeMillis
      // Step to just before the earliest refresh time the lead allows: no refresh yet.
      yield* TestClock.adjust(Duration.millis(expiresAt - 900 - now - 1))
      assert.strictEqual((yield* counts("client_credentials")).ok, 1)
      // By expiry − 600 ms the refresh has been sent, and it is back 300 ms later, before expiry.
      yield* TestClock.adjust(Duration.millis(300))
      yield* TestClock.adjust(Duration.millis(300))
      assert.strictEqual((yield* counts("client_credentials")).ok, 2)
      const second = yield* client.token
      assert.notStrictEqual(second, first)
      assert.isBelow(yield* TestClock.currentTimeMillis, expiresAt)
    }).pipe(Effect.provide(Env({ accessTokenLifetimeSeconds: 2, latencyMillis: 300 }))))

  it.scoped("invalidate: a stale token another fiber replaced is not refreshed again", () =>
    Effect.gen(function*() {
      const client = yield* makeClient()
      const first = yield* client.token
      const second = yield* client.invalidate(first)
      const third = yield* client.invalidate(first)
      assert.strictEqual(second.version, 1)
      assert.strictEqual(third, second)
      assert.strictEqual((yield* counts("client_credentials")).ok, 2)
    }).pipe(Effect.provide(Env())))

  it.scoped("changes reports every new token", () =>
    Effect.gen(function*() {
      const client = yield* makeClient()
      const seen = yield* client.changes.pipe(Stream.take(3), Stream.runCollect, Effect.fork)
      yield* Effect.yieldNow()
      yield* client.token
      yield* client.refresh
      const tokens = Array.from(yield* Fiber.join(seen))
      assert.isTrue(Option.isNone(tokens[0]))
      assert.deepStrictEqual(tokens.slice(1).map((t) => Option.map(t, (x) => x.version)), [
        Option.some(0),
        Option.some(1)
      ])
    }).pipe(Effect.provide(Env())))

  describe("user sessions", () => {
    it.scoped("a user slot without a token asks for a sign-in", () =>
      Effect.gen(function*() {
        const client = yield* makeClient(OAuthClient.user("alice"))
        const error = yield* Effect.flip(client.token)
        assert.strictEqual(error._tag, "@effect-oauth/ReauthorizationRequired")
      }).pipe(Effect.provide(Env())))

    it.scoped("a user slot without a token waits for a sign-in: no background turns, no warnings", () =>
      Effect.gen(function*() {
        const lines: Array<string> = []
        const logger = Logger.make(({ message }) => {
          lines.push(Array.isArray(message) ? message.join(" ") : String(message))
        })
        yield* Effect.gen(function*() {
          const client = yield* makeClient(OAuthClient.user("carol"), "carol")
          yield* Effect.flip(client.token)
          yield* TestClock.adjust(Duration.minutes(10))
          assert.deepStrictEqual(lines.filter((line) => line.includes("background refresh")), [])
          // A sign-in brings the background refresh back: the token is renewed before it expires.
          yield* login(client)
          const first = yield* client.token
          yield* TestClock.adjust(Duration.hours(2))
          const later = yield* client.token
          assert.notStrictEqual(later.version, first.version)
          assert.deepStrictEqual(lines.filter((line) => line.includes("background refresh")), [])
        }).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
      }).pipe(Effect.provide(Env())))

    it.scoped("refresh rotates the refresh token and persists before releasing callers", () =>
      Effect.gen(function*() {
        const store = yield* TokenStore.TokenStore
        const client = yield* makeClient(OAuthClient.user("alice"), "alice")
        yield* login(client)
        const before = yield* client.token
        const after = yield* client.refresh
        assert.notStrictEqual(
          Redacted.value(Option.getOrThrow(after.refreshToken)),
          Redacted.value(Option.getOrThrow(before.refreshToken))
        )
        const stored = Option.getOrThrow(yield* store.get("alice"))
        assert.strictEqual(stored.version, after.version)
        assert.strictEqual(Redacted.value(stored.accessToken), Redacted.value(after.accessToken))
      }).pipe(Effect.provide(Env())))

    it.scoped("a refresh response without refresh_token keeps the old one", () =>
      Effect.gen(function*() {
        const client = yield* makeClient(OAuthClient.user("bob"))
        yield* login(client)
        const before = yield* client.token
        const after = yield* client.refresh
        assert.strictEqual(
          Redacted.value(Option.getOrThrow(after.refreshToken)),
          Redacted.value(Option.getOrThrow(before.refreshToken))
        )
      }).pipe(Effect.provide(Env({ flavour: "spotify" }))))

    it.scoped("invalid_grant with no newer stored token clears the slot and asks for a sign-in", () =>
      Effect.gen(function*() {
        const server = yield* TestServer.TestServer
        const store = yield* TokenStore.TokenStore
        const client = yield* makeClient(OAuthClient.user("carol"), "carol")
        yield* login(client)
        yield* server.revokeAll()
        const error = yield* Effect.flip(client.refresh)
        assert.strictEqual(error._tag, "@effect-oauth/ReauthorizationRequired")
        assert.isTrue(Option.isNone(yield* store.get("carol")))
        // Fatal: no further request.
        const before = yield* counts("refresh_token")
        const again = yield* Effect.flip(client.token)
        assert.strictEqual(again._tag, "@effect-oauth/ReauthorizationRequired")
        assert.deepStrictEqual(yield* counts("refresh_token"), before)
      }).pipe(Effect.provide(Env())))

    it.scoped("invalid_grant after another process rotated the token adopts the stored token", () =>
      Effect.gen(function*() {
        const client = yield* makeClient(OAuthClient.user("dave"), "dave")
        yield* login(client)
        const other = yield* makeClient(OAuthClient.user("dave"), "dave")
        const original = yield* client.token
        // The other process (sharing the store) refreshes first and rotates the refresh token.
        const rotated = yield* Effect.flatMap(other.refresh, () => other.token)
        const adopted = yield* client.invalidate(original)
        assert.strictEqual(Redacted.value(adopted.accessToken), Redacted.value(rotated.accessToken))
        assert.strictEqual((yield* counts("refresh_token")).error, 0)
      }).pipe(Effect.provide(Env())))

    it.scoped("the new token is persisted before waiting callers are released", () =>
      Effect.gen(function*() {
        const server = yield* TestServer.TestServer
        const memory = yield* TokenStore.makeMemory
        const gate = yield* Deferred.make<void>()
        let gated = false
        const slow: TokenStore.TokenStore.Service = {
          ...memory,
          set: (key, token, expected) =>
            gated
              ? Effect.zipRight(Deferred.await(gate), memory.set(key, token, expected))
              : memory.set(key, token, expected)
        }
        const client = yield* OAuthClient.make({
          provider: server.provider(),
          client: server.client,
          session: OAuthClient.user("hal"),
          key: "hal"
        }).pipe(Effect.provideService(TokenStore.TokenStore, slow))
        yield* login(client)
        gated = true
        const waiting = yield* Effect.fork(client.refresh)
        yield* TestClock.adjust(Duration.millis(1))
        assert.isTrue(Option.isNone(yield* Fiber.poll(waiting)))
        yield* Deferred.succeed(gate, void 0)
        const token = yield* Fiber.join(waiting)
        assert.strictEqual(Option.getOrThrow(yield* memory.get("hal")).version, token.version)
      }).pipe(Effect.provide(Env())))

    it.scoped("if persisting fails the new token stays in memory and is written later", () =>
      Effect.gen(function*() {
        const server = yield* TestServer.TestServer
        const memory = yield* TokenStore.makeMemory
        let failing = true
        const flaky: TokenStore.TokenStore.Service = {
          ...memory,
          set: (key, token, expected) =>
            failing
              ? Effect.fail(new OAuthError.StoreError({ reason: "Set", detail: "disk full" }))
              : memory.set(key, token, expected)
        }
        const client = yield* OAuthClient.make({
          provider: server.provider(),
          client: server.client,
          session: OAuthClient.user("erin"),
          key: "erin"
        }).pipe(Effect.provideService(TokenStore.TokenStore, flaky))
        failing = false
        yield* login(client)
        failing = true
        const before = yield* client.token
        const after = yield* client.refresh
        assert.strictEqual(after.version, before.version + 1)
        // The spent refresh token is never used again: a second refresh uses the new one.
        const third = yield* client.refresh
        assert.strictEqual(third.version, after.version + 1)
        assert.strictEqual((yield* counts("refresh_token")).error, 0)
        failing = false
        yield* TestClock.adjust(Duration.minutes(10))
        const stored = Option.getOrThrow(yield* memory.get("erin"))
        assert.strictEqual(stored.version, third.version)
      }).pipe(Effect.provide(Env())))
  })

  describe("every write is a compare-and-set", () => {
    // Records each write's expectation, and what the store held when it came.
    const recording = Effect.map(TokenStore.makeMemory, (memory) => {
      const writes: Array<{ readonly expected: string; readonly held: string; readonly result: string }> = []
      const describe = (token: Option.Option<Token.Token>) =>
        Option.match(token, { onNone: () => "absent", onSome: (t) => `v${t.version}` })
      const store: TokenStore.TokenStore.Service = {
        ...memory,
        set: (key, token, expected) =>
          Effect.flatMap(
            memory.get(key),
            (held) =>
              Effect.tap(memory.set(key, token, expected), (result) =>
                Effect.sync(() =>
                  void writes.push({
                    expected: expected._tag === "Absent" ? "absent" : `v${expected.version}`,
                    held: describe(held),
                    result: result._tag
                  })
                ))
          ),
        remove: (key, expected) =>
          Effect.flatMap(
            memory.get(key),
            (held) =>
              Effect.tap(memory.remove(key, expected), (result) =>
                Effect.sync(() =>
                  void writes.push({
                    expected: expected._tag === "Absent" ? "absent" : `v${expected.version}`,
                    held: describe(held),
                    result: `remove ${result._tag}`
                  })
                ))
          )
      }
      return { memory, store, writes }
    })

    const userClient = (store: TokenStore.TokenStore.Service) =>
      Effect.flatMap(
        TestServer.TestServer,
        (server) =>
          OAuthClient.make({
            provider: server.provider(),
            client: server.client,
            session: OAuthClient.user("cas"),
            key: "cas"
          })
            .pipe(Effect.provideService(TokenStore.TokenStore, store))
      )

    it.scoped("a refresh that finds another writer's token on writing adopts it instead of overwriting it", () =>
      Effect.gen(function*() {
        const server = yield* TestServer.TestServer
        const { memory, store, writes } = yield* recording
        const client = yield* userClient(store)
        yield* login(client)
        yield* server.configure({ latencyMillis: 1_000 })
        const refreshing = yield* Effect.fork(client.refresh)
        yield* TestClock.adjust(Duration.millis(500))
        // Another process stores its own refresh while ours is on the wire.
        const theirs = yield* server.issueToken({ scopes: ["read"], lifetimeSeconds: 3600, withRefreshToken: true })
        const other = TestServer.toToken(theirs, yield* TestClock.currentTimeMillis, 5)
        yield* put(memory, "cas", other)
        yield* TestClock.adjust(Duration.millis(500))
        const adopted = yield* Fiber.join(refreshing)
        assert.strictEqual(adopted.version, 5)
        assert.strictEqual(Redacted.value(adopted.accessToken), Redacted.value(other.accessToken))
        const stored = Option.getOrThrow(yield* memory.get("cas"))
        assert.strictEqual(Redacted.value(stored.accessToken), theirs.accessToken)
        // Every write named what it expected; the one that met another writer's token lost.
        assert.deepStrictEqual(writes.map((w) => w.result), ["Written", "Conflict"])
        assert.deepStrictEqual(writes[1], { expected: "v0", held: "v5", result: "Conflict" })
      }).pipe(Effect.provide(Env())))

    it.scoped("setToken and a sign-out write only against the version they read", () =>
      Effect.gen(function*() {
        const server = yield* TestServer.TestServer
        const { memory, store, writes } = yield* recording
        const client = yield* userClient(store)
        yield* login(client)
        // Another process replaces the token; this slot still holds version 0.
        const theirs = yield* server.issueToken({ scopes: ["read"], lifetimeSeconds: 3600, withRefreshToken: true })
        yield* put(memory, "cas", TestServer.toToken(theirs, yield* TestClock.currentTimeMillis, 4))
        yield* login(client)
        assert.deepStrictEqual(writes.slice(1), [
          { expected: "v0", held: "v4", result: "Conflict" },
          { expected: "v4", held: "v4", result: "Written" }
        ])
        assert.strictEqual(Option.getOrThrow(yield* memory.get("cas")).version, 5)
        yield* put(memory, "cas", TestServer.toToken(theirs, yield* TestClock.currentTimeMillis, 9))
        yield* client.revoke
        assert.deepStrictEqual(writes.slice(3), [
          { expected: "v5", held: "v9", result: "remove Conflict" },
          { expected: "v9", held: "v9", result: "remove Written" }
        ])
        assert.isTrue(Option.isNone(yield* memory.get("cas")))
      }).pipe(Effect.provide(Env())))
  })

  describe("revoke", () => {
    it.scoped("revokes at the provider (RFC 7009) and deletes the stored token", () =>
      Effect.gen(function*() {
        const server = yield* TestServer.TestServer
        const store = yield* TokenStore.TokenStore
        const client = yield* makeClient(OAuthClient.user("frank"), "frank")
        yield* login(client)
        yield* client.revoke
        assert.isTrue(Option.isNone(yield* store.get("frank")))
        assert.strictEqual((yield* server.counters).revocations, 1)
        assert.strictEqual((yield* Effect.flip(client.token))._tag, "@effect-oauth/ReauthorizationRequired")
      }).pipe(Effect.provide(Env())))

    it.scoped("deletes the local token even when the provider's revocation fails", () =>
      Effect.gen(function*() {
        const server = yield* TestServer.TestServer
        const store = yield* TokenStore.TokenStore
        const client = yield* makeClient(OAuthClient.user("gina"), "gina")
        yield* login(client)
        yield* server.injectFaults([{
          path: "/revoke",
          status: 400,
          body: JSON.stringify({ error: "invalid_request" })
        }])
        const error = yield* Effect.flip(client.revoke)
        assert.strictEqual(error.reason, "ErrorResponse")
        assert.isTrue(Option.isNone(yield* store.get("gina")))
      }).pipe(Effect.provide(Env())))
  })
})

describe("OAuthClient config", () => {
  it.effect("layerConfig reads the secret with Config.redacted", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      const layer = OAuthClient.layerConfig({
        provider: server.provider(),
        client: ClientConfig.config("TEST"),
        session: OAuthClient.clientCredentials(cc)
      })
      const token = yield* Effect.flatMap(OAuthClient.OAuthClient, (client) => client.token).pipe(
        Effect.provide(layer),
        Effect.withConfigProvider(
          ConfigProvider.fromMap(
            new Map([["TEST_CLIENT_ID", server.client.clientId], [
              "TEST_CLIENT_SECRET",
              Redacted.value(Option.getOrThrow(server.client.clientSecret))
            ]])
          )
        )
      )
      assert.strictEqual(token.version, 0)
    }).pipe(Effect.provide(Env())))
})
