/**
 * Fleets of real Node processes (test/fixtures/fleetChild.ts) sharing one real redis-server and
 * one loopback test server.
 */
import * as ClientConfig from "@effect-oauth/core/ClientConfig"
import * as Grant from "@effect-oauth/core/Grant"
import * as OAuthClient from "@effect-oauth/core/OAuthClient"
import * as Provider from "@effect-oauth/core/Provider"
import { Token } from "@effect-oauth/core/Token"
import * as TokenEndpoint from "@effect-oauth/core/TokenEndpoint"
import { TokenStore } from "@effect-oauth/core/TokenStore"
import { TestServer } from "@effect-oauth/testing"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import { assert, describe, it } from "@effect/vitest"
import { Clock, Context, Duration, Effect, Exit, Layer, Option, Redacted, Scope } from "effect"
import { fileURLToPath } from "node:url"
import { afterAll, beforeAll } from "vitest"
import * as RedisTokenStore from "../src/RedisTokenStore.js"
import * as Processes from "./processes.js"
import * as RedisServer from "./redisServer.js"

const fixture = fileURLToPath(new URL("./fixtures/fleetChild.ts", import.meta.url))

// The children's bundle, made once for the file.
let bundled: string | undefined
const bundleScope = Effect.runSync(Scope.make())
beforeAll(async () => {
  bundled = await Effect.runPromise(Scope.extend(Processes.bundle(fixture), bundleScope))
})
afterAll(() => Effect.runPromise(Scope.close(bundleScope, Exit.void)))

interface Result {
  readonly ok: number
  readonly failed: number
  readonly version: number
  readonly errors: ReadonlyArray<string>
}

/** The fleet's common arguments. */
const jobOf = (redis: RedisServer.RedisServer, server: TestServer.TestServer.Service) => ({
  redisUrl: redis.url,
  serverUrl: server.url,
  clientId: server.client.clientId,
  clientSecret: Redacted.value(Option.getOrThrow(server.client.clientSecret))
})

/** Starts one child per job, and collects each one's result. */
const runFleet = (jobs: ReadonlyArray<Record<string, unknown>>) =>
  Effect.gen(function*() {
    const children = yield* Effect.forEach(jobs, (job) => Processes.start(fixture, bundled, [JSON.stringify(job)]))
    yield* Effect.addFinalizer((exit) =>
      exit._tag === "Failure" || process.env.FLEET_LOGS !== undefined
        ? Effect.sync(() => {
          children.forEach((child, i) =>
            process.stderr.write(`--- child ${i}\n${child.logs.join("\n")}\n${child.stderr()}\n`)
          )
        })
        : Effect.void
    )
    return yield* Effect.forEach(
      children,
      (child) => Effect.map(child.waitFor("result", Duration.seconds(45)), (message) => message as unknown as Result),
      { concurrency: "unbounded" }
    )
  })

/** Seeds `key` in Redis with a freshly issued user token (as a login would leave it). */
const seedUser = (redisUrl: string, key: string, lifetimeSeconds: number) =>
  Effect.gen(function*() {
    const server = yield* TestServer.TestServer
    const issued = yield* server.issueToken({ scopes: ["identify"], lifetimeSeconds })
    const store = yield* RedisTokenStore.make({ url: redisUrl })
    const token = TestServer.toToken(issued, yield* Clock.currentTimeMillis)
    yield* store.set(key, token, { _tag: "Absent" })
    return { store, token }
  })

const assertNoFailures = (results: ReadonlyArray<Result>, minimumOk: number) => {
  for (const result of results) {
    assert.strictEqual(result.failed, 0, `a child failed calls: ${result.errors.join("; ")}`)
    assert.isAtLeast(result.ok, minimumOk)
  }
}

describe("a fleet on Redis", () => {
  it.scopedLive(
    "4 processes share one user's rotating refresh token for 10 s (1-second tokens): one refresh per window, no invalid_grant, no failed call",
    () =>
      Effect.gen(function*() {
        const redis = yield* RedisServer.make()
        const server = yield* TestServer.TestServer
        yield* server.configure({ accessTokenLifetimeSeconds: 1, rotateRefreshTokens: true })
        yield* seedUser(redis.url, "fleet/user", 1)
        const millis = 10_000
        const results = yield* runFleet(
          Array.from({ length: 4 }, () => ({ ...jobOf(redis, server), mode: "user", key: "fleet/user", millis }))
        )
        const counters = yield* server.counters
        const refreshes = counters.tokenRequests.refresh_token
        yield* Effect.logInfo(
          `rotating fleet: ${refreshes.ok} refreshes in 10 s, ${counters.invalidGrant} invalid_grant, ` +
            `${results.reduce((n, r) => n + r.ok, 0)} calls ok`
        )
        assert.strictEqual(counters.invalidGrant, 0)
        assert.strictEqual(refreshes.error, 0)
        // Ten one-second windows: about one refresh each for the whole fleet (a process alone
        // refreshes a little ahead of expiry, so somewhat more than ten), never one per process.
        const windows = millis / 1_000
        assert.isAtLeast(refreshes.ok, windows * 0.6, `refreshes: ${refreshes.ok}`)
        assert.isAtMost(refreshes.ok, windows * 1.6 + 2, `refreshes: ${refreshes.ok}`)
        assertNoFailures(results, 50)
      }).pipe(Effect.provide(TestServer.layer())),
    60_000
  )

  it.scopedLive(
    "4 processes with one client-credentials client: one token request per window for the fleet",
    () =>
      Effect.gen(function*() {
        const redis = yield* RedisServer.make()
        const server = yield* TestServer.TestServer
        yield* server.configure({ accessTokenLifetimeSeconds: 1 })
        const millis = 5_000
        const results = yield* runFleet(
          Array.from({ length: 4 }, () => ({ ...jobOf(redis, server), mode: "client", key: "fleet/client", millis }))
        )
        const requests = (yield* server.counters).tokenRequests.client_credentials
        yield* Effect.logInfo(`client-credentials fleet: ${requests.ok} token requests in 5 s`)
        assert.strictEqual(requests.error, 0)
        const windows = millis / 1_000
        assert.isAtLeast(requests.ok, windows * 0.6, `token requests: ${requests.ok}`)
        assert.isAtMost(requests.ok, windows * 1.6 + 2, `token requests: ${requests.ok}`)
        assertNoFailures(results, 25)
      }).pipe(Effect.provide(TestServer.layer())),
    60_000
  )

  it.scopedLive(
    "a slot whose token another process rotated, and whose successor then expired unrefreshed, refreshes from that successor",
    () =>
      Effect.gen(function*() {
        const redis = yield* RedisServer.make()
        const server = yield* TestServer.TestServer
        yield* server.configure({ rotateRefreshTokens: true })
        const { store, token: first } = yield* seedUser(redis.url, "fleet/slept", 3600)
        const provider = Provider.make({
          tokenEndpoint: server.tokenEndpoint,
          clientAuthentication: "client_secret_basic"
        })
        const client = ClientConfig.make({
          clientId: server.client.clientId,
          clientSecret: Option.getOrThrow(server.client.clientSecret)
        })
        const context = yield* Layer.build(
          OAuthClient.layer({ provider, client, session: OAuthClient.user(), key: "fleet/slept" }).pipe(
            Layer.provide(Layer.succeed(TokenStore, store)),
            Layer.provide(FetchHttpClient.layer)
          )
        )
        const oauth = Context.get(context, OAuthClient.OAuthClient)
        assert.strictEqual((yield* oauth.token).version, first.version)
        // Another member refreshes (spending the first refresh token), stores the result, and goes
        // idle past its expiry.
        const endpoint = yield* TokenEndpoint.make({ provider, client }).pipe(Effect.provide(FetchHttpClient.layer))
        const second = yield* endpoint.request(Grant.RefreshToken(Option.getOrThrow(first.refreshToken)), {
          previous: first
        })
        const now = yield* Clock.currentTimeMillis
        yield* store.set("fleet/slept", new Token({ ...second, expiresAt: Option.some(now - 1_000) }), {
          _tag: "Version",
          version: first.version
        })
        const third = yield* oauth.refresh
        assert.strictEqual((yield* server.counters).invalidGrant, 0)
        assert.isAbove(third.version, second.version)
        assert.strictEqual(Option.getOrThrow(yield* store.get("fleet/slept")).version, third.version)
      }).pipe(Effect.provide(TestServer.layer())),
    30_000
  )

  it.scopedLive(
    "the lease holder SIGKILLed mid-refresh: another process refreshes once the lease expires, with no invalid_grant",
    () =>
      Effect.gen(function*() {
        const redis = yield* RedisServer.make()
        const server = yield* TestServer.TestServer
        yield* server.configure({ accessTokenLifetimeSeconds: 60, rotateRefreshTokens: true })
        // A token that is already due: the first call of each process refreshes.
        const issued = yield* server.issueToken({ scopes: ["identify"], lifetimeSeconds: 1 })
        const store = yield* RedisTokenStore.make({ url: redis.url })
        yield* store.set("fleet/kill", TestServer.toToken(issued, (yield* Clock.currentTimeMillis) - 5_000), {
          _tag: "Absent"
        })
        // The holder's token request never gets an answer.
        yield* server.injectFaults([{ hang: true }])
        const job = { ...jobOf(redis, server), mode: "user", key: "fleet/kill", millis: 2_000, leaseTtlMillis: 1_000 }
        const holder = yield* Processes.start(fixture, bundled, [JSON.stringify(job)])
        yield* holder.waitFor("ready")
        // Bounded: the holder takes the lease and sends its (hanging) refresh.
        for (let i = 0; i < 200 && (yield* server.counters).faults === 0; i++) yield* Effect.sleep("25 millis")
        assert.strictEqual((yield* server.counters).faults, 1)
        assert.strictEqual((yield* redis.cli("EXISTS", "effect-oauth:lease:fleet/kill")).trim(), "1")
        // The waiter's calls run long enough that, after up to 2.5 s blocked on the dead holder's lease,
        // it still makes its calls when the machine is busy.
        const waiter = yield* Processes.start(fixture, bundled, [JSON.stringify({ ...job, millis: 4_000 })])
        yield* waiter.waitFor("ready")
        holder.process.kill("SIGKILL")
        const killedAt = yield* Clock.currentTimeMillis
        yield* holder.exited
        // Bounded: the waiter refreshes once the dead holder's lease runs out (1 s, no renewal).
        for (let i = 0; i < 200 && (yield* server.counters).tokenRequests.refresh_token.ok === 0; i++) {
          yield* Effect.sleep("25 millis")
        }
        const took = (yield* Clock.currentTimeMillis) - killedAt
        const result = (yield* waiter.waitFor("result", Duration.seconds(20))) as unknown as Result
        const counters = yield* server.counters
        assert.strictEqual(counters.tokenRequests.refresh_token.ok, 1)
        assert.strictEqual(counters.invalidGrant, 0)
        assert.isAtMost(took, 2_500, `the waiter refreshed ${took} ms after the kill`)
        assert.strictEqual(result.failed, 0, result.errors.join("; "))
        assert.isAtLeast(result.ok, 10)
      }).pipe(Effect.provide(TestServer.layer())),
    60_000
  )

  it.scopedLive(
    "Redis killed mid-run and restarted empty: no call fails, no rotated refresh token is sent twice, the current token is written back",
    () =>
      Effect.gen(function*() {
        const redis = yield* RedisServer.make()
        const server = yield* TestServer.TestServer
        yield* server.configure({ accessTokenLifetimeSeconds: 2, rotateRefreshTokens: true })
        yield* seedUser(redis.url, "fleet/outage", 2)
        // Long enough that each child makes its calls after the outage, also on a busy machine.
        const job = { ...jobOf(redis, server), mode: "user", key: "fleet/outage", millis: 9_000 }
        const children = yield* Effect.forEach(
          [0, 1, 2],
          () => Processes.start(fixture, bundled, [JSON.stringify(job)])
        )
        yield* Effect.forEach(children, (child) => child.waitFor("ready"))
        yield* Effect.sleep("1 second")
        // Redis dies while a refresh is under way: its holder gets the new token when Redis is
        // gone, and is the only one to know it.
        yield* server.injectFaults([{ delayMillis: 1_000 }])
        for (let i = 0; i < 400 && (yield* server.counters).faults === 0; i++) yield* Effect.sleep("10 millis")
        assert.strictEqual((yield* server.counters).faults, 1)
        yield* redis.kill
        yield* Effect.sleep("1500 millis")
        yield* redis.restart
        const results = yield* Effect.forEach(
          children,
          (child) => Effect.map(child.waitFor("result", Duration.seconds(30)), (m) => m as unknown as Result),
          { concurrency: "unbounded" }
        )
        const counters = yield* server.counters
        assert.strictEqual(counters.invalidGrant, 0)
        assert.strictEqual(counters.tokenRequests.refresh_token.error, 0)
        assertNoFailures(results, 25)
        // Redis holds the newest token any process holds, written back after the restart.
        const stored = yield* (yield* RedisTokenStore.make({ url: redis.url })).get("fleet/outage")
        assert.isTrue(Option.isSome(stored), "nothing was written back")
        assert.strictEqual(Option.getOrThrow(stored).version, Math.max(...results.map((r) => r.version)))
      }).pipe(Effect.provide(TestServer.layer())),
    60_000
  )

  it.scopedLive(
    "4 processes × 100 calls through the osu! preset (60 per 1.5 s): no window holds more than 60 (arrivals, allowing 200 ms of jitter on the way)",
    () =>
      Effect.gen(function*() {
        const redis = yield* RedisServer.make()
        const server = yield* TestServer.TestServer
        const api = yield* Processes.recordingApi
        const job = {
          ...jobOf(redis, server),
          mode: "osu",
          apiUrl: api.url,
          calls: 100,
          limit: 60,
          intervalMillis: 1_500
        }
        const results = yield* runFleet([job, job, job, job])
        assertNoFailures(results, 100)
        assert.strictEqual(api.arrivals.length, 400)
        // The oracle, over the times the API saw the requests arrive: every window, both ends
        // included. The limit holds for the times the requests are sent; on their way (four busy
        // processes on two cores) each may be delayed by up to a jitter, which can move a request
        // sent just before a window into it. Arrivals within `interval − jitter` came from sends
        // within one interval, so that window is the one the guarantee bounds.
        const jitter = 200
        const busiest = Processes.busiestWindow(api.arrivals, 1_500 - jitter - 1)
        yield* Effect.logInfo(`osu! fleet: the busiest 1.3-second window of arrivals held ${busiest} requests`)
        assert.isAtMost(busiest, 60)
        // And the limit is used, not starved: the 400 calls took less than twice the ideal time.
        const span = Math.max(...api.arrivals) - Math.min(...api.arrivals)
        assert.isAtMost(span, (400 / 60) * 1_500 * 2)
      }).pipe(Effect.provide(TestServer.layer({ flavour: "osu" }))),
    60_000
  )
})
