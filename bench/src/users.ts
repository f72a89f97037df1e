/**
 * users: many user slots holding tokens in one process (DESIGN.md §7, "10,000 user slots").
 *
 * - `effect-oauth`: one `Registry` (memory store) with a slot per user, each given a 1-hour token
 *   with `setToken`, then 3 hours of simulated time during which the registry's one scheduler
 *   refreshes every slot in the background, through the in-memory test server;
 * - `badgateway`: a `Map` of `@badgateway/oauth2-client` `OAuth2Fetch` instances (one shared
 *   `OAuth2Client`) holding the same tokens — heap only: it runs on real timers and `Date.now()`, so
 *   it cannot be put on simulated time.
 *
 * Heap is read after full collections, before and after creating the slots; the heap the same
 * tokens cost in a plain array is subtracted, leaving what a slot costs beyond its token. (The
 * token strings are held by the test server as well, so neither side counts them.)
 *
 * Simulated time is `Simulation.clock` of `@effect-oauth/testing`, advanced in 5-second steps
 * (each followed by every refresh it made due): as that test explains, `TestClock` keeps every
 * interrupted sleep (each token request's timeouts) until its time passes and settles on real
 * timers before firing each, too slow for 30,000 refreshes.
 *
 * Runs alone with `tsx --tsconfig ../tsconfig.json src/users.ts` (`BENCH_USERS=1000` for fewer
 * slots); `BENCH_ONLY=users pnpm bench` writes its figures to bench/results.json.
 */
import { OAuth2Client, OAuth2Fetch, type OAuth2Token } from "@badgateway/oauth2-client"
import { Registry, type Token, TokenStore } from "@effect-oauth/core"
import { Simulation, TestServer } from "@effect-oauth/testing"
import { Clock, Duration, Effect, Fiber, Option, Redacted, Supervisor } from "effect"
import { pathToFileURL } from "node:url"
import * as v8 from "node:v8"
import * as vm from "node:vm"

v8.setFlagsFromString("--expose-gc")
const collectGarbage = vm.runInNewContext("gc") as () => void

const macrotask = Effect.promise(() => new Promise<void>((resolve) => setImmediate(resolve)))

/**
 * The heap after full collections — what is retained, not garbage — read until two readings agree
 * (finalizers and weak references settle between collections); at most 10 rounds.
 */
const heapUsed = Effect.gen(function*() {
  let previous = Number.NaN
  for (let round = 0; round < 10; round++) {
    collectGarbage()
    yield* macrotask
    collectGarbage()
    const now = process.memoryUsage().heapUsed
    if (Math.abs(now - previous) < 16 * 1024) return now
    previous = now
  }
  return previous
})

/** The most fibers alive at once, counted as they start and end (sampling would miss a burst). */
class PeakFibers extends Supervisor.AbstractSupervisor<number> {
  private live = 0
  peak = 0
  get value() {
    return Effect.sync(() => this.peak)
  }
  override onStart() {
    this.live++
    if (this.live > this.peak) this.peak = this.live
  }
  override onEnd() {
    this.live--
  }
  reset() {
    this.peak = this.live
  }
}

const kib = (bytes: number) => Math.round((bytes / 1024) * 100) / 100

export type UsersFigures = Record<"effect-oauth" | "badgateway", Record<string, unknown>>

const hours = 3
const stepMillis = 5_000
const scanEveryMillis = 60_000

const issueTokens = (server: TestServer.TestServer.Service, slots: number) =>
  Effect.gen(function*() {
    const issued: Array<TestServer.IssuedToken> = []
    for (let i = 0; i < slots; i++) {
      issued.push(yield* server.issueToken({ scopes: ["read"], lifetimeSeconds: 3600, withRefreshToken: true }))
    }
    return issued
  })

const effectOAuth = (slots: number) => {
  const time = Simulation.clock()
  return Effect.gen(function*() {
    const server = yield* TestServer.TestServer
    const start = yield* Clock.currentTimeMillis
    const issued = yield* issueTokens(server, slots)

    // The same tokens in a plain array: what a token costs by itself (its strings are the test
    // server's, shared by both).
    const beforeArray = yield* heapUsed
    const plain: Array<Token.Token> = issued.map((t) => TestServer.toToken(t, start, 0))
    const tokenBytes = ((yield* heapUsed) - beforeArray) / plain.length
    plain.length = 0

    const refreshes = Effect.map(server.counters, (c) => TestServer.tokenRequests(c, "refresh_token"))
    // The registry in a scope of its own, with a store of its own, so that closing it shows what
    // it held at the end.
    const run = Effect.gen(function*() {
      const tracked = yield* Supervisor.track
      const peak = new PeakFibers()
      const registry = yield* Registry.make({
        provider: server.provider(),
        client: server.client,
        idleTimeToLive: Duration.days(1)
      }).pipe(Effect.supervised(tracked.zip(peak)))
      const live = Effect.flatMap(
        tracked.value,
        (fibers) => Effect.map(Effect.forEach(fibers, Fiber.poll), (polls) => polls.filter(Option.isNone).length)
      )
      const fibersBeforeSlots = yield* live

      const beforeSlots = yield* heapUsed
      for (let i = 0; i < slots; i++) {
        const user = yield* registry.get(`user-${i}`)
        yield* user.setToken(TestServer.toToken(issued[i], start, 0))
      }
      const slotBytes = ((yield* heapUsed) - beforeSlots) / slots
      yield* macrotask
      const fibersAtRest = yield* live
      const size = yield* registry.size
      peak.reset()

      // After each step of simulated time, every due refresh runs to its end (bounded in rounds and
      // in real time; a step that does not settle is counted).
      let unsettledSteps = 0
      const settle = Effect.gen(function*() {
        let last = -1
        const deadline = performance.now() + 30_000
        for (let round = 0; round < 100_000 && performance.now() < deadline; round++) {
          yield* macrotask
          const done = (yield* refreshes).ok
          if ((yield* live) <= fibersAtRest && done === last) return
          last = done
        }
        unsettledSteps++
      })

      // Every minute, every slot's token: a token the background missed would be refreshed by this
      // call, in the foreground — counted — and the time left before expiry is recorded. If the
      // least time left at any scan is over the minute between scans, no token ever expired.
      let foregroundRefreshes = 0
      let minMarginMillis = Number.POSITIVE_INFINITY
      const scan = Effect.gen(function*() {
        const before = yield* refreshes
        const now = time.now()
        for (let i = 0; i < slots; i++) {
          const token = yield* (yield* registry.get(`user-${i}`)).token
          minMarginMillis = Math.min(minMarginMillis, Option.getOrThrow(token.expiresAt) - now)
        }
        const after = yield* refreshes
        foregroundRefreshes += after.ok + after.error - before.ok - before.error
      })

      const realStart = performance.now()
      let simulatedMillis = 0
      for (
        let elapsed = stepMillis;
        elapsed <= hours * 3_600_000 && performance.now() - realStart < 30 * 60_000;
        elapsed += stepMillis
      ) {
        yield* time.advance(stepMillis)
        yield* settle
        if (elapsed % scanEveryMillis === 0) yield* scan
        simulatedMillis = elapsed
      }
      const realSeconds = (performance.now() - realStart) / 1000

      // Each slot's token now comes from its third refresh: issued after two hours.
      const finals: Array<Token.Token> = []
      let refreshedThrice = 0
      let usableAtEnd = 0
      for (let i = 0; i < slots; i++) {
        const token = yield* (yield* registry.get(`user-${i}`)).token
        finals.push(token)
        if (token.issuedAt >= start + 2 * 3_600_000) refreshedThrice++
        if (Option.getOrThrow(token.expiresAt) > time.now()) usableAtEnd++
      }
      const counted = yield* refreshes
      return {
        finals,
        heapAtEnd: yield* heapUsed,
        figures: {
          slots: size,
          tokenBytes: Math.round(tokenBytes),
          heapPerSlotBeyondTokenBytes: Math.round(slotBytes - tokenBytes),
          heapPerSlotBeyondTokenKiB: kib(slotBytes - tokenBytes),
          liveFibersBeforeSlots: fibersBeforeSlots,
          liveFibersAtRest: fibersAtRest,
          liveFibersAtEnd: yield* live,
          peakFibersDuringRefreshes: peak.peak,
          clock: `simulated (Simulation.clock of @effect-oauth/testing), ${stepMillis / 1000}-second steps`,
          simulatedHours: Math.round((simulatedMillis / 3_600_000) * 100) / 100,
          expectedRefreshes: slots * hours,
          refreshRequestsOk: counted.ok,
          refreshRequestsFailed: counted.error,
          slotsRefreshedThrice: refreshedThrice,
          slotsUsableAtEnd: usableAtEnd,
          foregroundRefreshes,
          minSecondsLeftAtMinuteScans: Math.round(minMarginMillis / 1000),
          unsettledSteps,
          realSeconds: Math.round(realSeconds * 10) / 10
        }
      }
    }).pipe(Effect.scoped, Effect.provideServiceEffect(TokenStore.TokenStore, TokenStore.makeMemory))

    const { figures, finals, heapAtEnd } = yield* run
    // The registry closed; its last tokens are still held by `finals`: the difference is what it held
    // beyond them after 3 hours of refreshes.
    const heapClosed = yield* heapUsed
    const heldAtEnd = finals.length
    return { ...figures, heapPerSlotBeyondTokenAfter3hBytes: Math.round((heapAtEnd - heapClosed) / heldAtEnd) }
  }).pipe(
    Effect.withClock(time.clock),
    Effect.provide(TestServer.layerInMemory())
  )
}

const badgateway = (slots: number) =>
  Effect.gen(function*() {
    const server = yield* TestServer.TestServer
    const issued = yield* issueTokens(server, slots)
    const now = Date.now()
    const tokenOf = (t: TestServer.IssuedToken): OAuth2Token => ({
      accessToken: t.accessToken,
      refreshToken: t.refreshToken ?? null,
      expiresAt: now + 3_600_000
    })
    const beforeArray = yield* heapUsed
    const plain: Array<OAuth2Token> = issued.map(tokenOf)
    const tokenBytes = ((yield* heapUsed) - beforeArray) / plain.length
    plain.length = 0

    // One client for every user, as an application would have.
    const client = new OAuth2Client({
      clientId: server.client.clientId,
      clientSecret: Redacted.value(Option.getOrThrow(server.client.clientSecret)),
      tokenEndpoint: server.tokenEndpoint,
      authenticationMethod: "client_secret_post"
    })
    const beforeSlots = yield* heapUsed
    const users = new Map<string, OAuth2Fetch>()
    for (let i = 0; i < slots; i++) {
      let stored: OAuth2Token | null = tokenOf(issued[i])
      users.set(
        `user-${i}`,
        new OAuth2Fetch({
          client,
          getNewToken: () => null,
          getStoredToken: () => stored,
          storeToken: (token) => {
            stored = token
          },
          onError: () => {}
        })
      )
    }
    // Each instance reads its stored token in a promise: heapUsed lets them settle first.
    const slotBytes = ((yield* heapUsed) - beforeSlots) / users.size
    return {
      slots: users.size,
      tokenBytes: Math.round(tokenBytes),
      heapPerInstanceBeyondTokenBytes: Math.round(slotBytes - tokenBytes),
      heapPerInstanceBeyondTokenKiB: kib(slotBytes - tokenBytes),
      // OAuth2Fetch arms a refresh timer per instance only after its first refresh: none here.
      refreshTimersArmed: 0
    }
  }).pipe(Effect.provide(TestServer.layerInMemory()))

/** Runs both sides, one after the other, in this process. */
export const measureUsers = async (slots = Number(process.env.BENCH_USERS ?? 10_000)): Promise<UsersFigures> => {
  const ours = await Effect.runPromise(effectOAuth(slots))
  const theirs = await Effect.runPromise(badgateway(slots))
  return { "effect-oauth": ours, badgateway: theirs }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const figures = await measureUsers()
  console.log(JSON.stringify(figures, null, 2))
}
