/**
 * The `fleet` scenario: 4 Node processes sharing one user's rotating refresh token (1-second tokens,
 * reuse detection on in the test server) for 8 seconds,
 *
 * - `effect-oauth`: each an `OAuthClient` over `RedisTokenStore` on one real redis-server (the
 *   Redis tests' child, packages/redis/test/fixtures/fleetChild.ts);
 * - `badgateway`: each its own `@badgateway/oauth2-client` `OAuth2Fetch`, all seeded with the same
 *   token (this file, run as a child with `badgateway`), which is what a fleet without a shared
 *   store has.
 *
 * Figures: token requests per token window, `invalid_grant`s the server saw, failed calls, and lost
 * sessions (processes whose last call failed).
 */
import { OAuth2Client, OAuth2Fetch } from "@badgateway/oauth2-client"
import { TestServer } from "@effect-oauth/testing"
import { Clock, Duration, Effect, Option, Redacted } from "effect"
import { fileURLToPath } from "node:url"
import * as RedisTokenStore from "../../packages/redis/src/RedisTokenStore.js"
import * as Processes from "../../packages/redis/test/processes.js"
import * as RedisServer from "../../packages/redis/test/redisServer.js"

const processes = 4
const millis = 8_000
const lifetimeSeconds = 1
const fleetChild = fileURLToPath(new URL("../../packages/redis/test/fixtures/fleetChild.ts", import.meta.url))
const self = fileURLToPath(import.meta.url)

interface Job {
  readonly serverUrl: string
  readonly clientId: string
  readonly clientSecret: string
  readonly accessToken: string
  readonly refreshToken: string
  readonly expiresAt: number
}

/** A badgateway member: its own copy of the token, refreshed on its own, calling `/me` every 50 ms. */
const badgatewayChild = async (job: Job) => {
  const client = new OAuth2Client({
    clientId: job.clientId,
    clientSecret: job.clientSecret,
    tokenEndpoint: `${job.serverUrl}/token`,
    authenticationMethod: "client_secret_basic"
  })
  let stored: { accessToken: string; refreshToken: string | null; expiresAt: number | null } = job
  const wrapper = new OAuth2Fetch({
    client,
    getNewToken: () => null,
    getStoredToken: () => stored,
    storeToken: (token) => {
      stored = token
    },
    onError: () => {}
  })
  process.stdout.write(`${JSON.stringify({ event: "ready" })}\n`)
  const until = performance.now() + millis
  let ok = 0
  let failed = 0
  let lastStatus = 0
  // Bounded in time, and in count as a guard.
  for (let i = 0; i < 100_000 && performance.now() < until; i++) {
    try {
      const response = await wrapper.fetch(`${job.serverUrl}/me`)
      await response.arrayBuffer()
      lastStatus = response.status
    } catch {
      lastStatus = 0
    }
    if (lastStatus === 200) ok++
    else failed++
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  process.stdout.write(`${JSON.stringify({ event: "result", ok, failed, lastStatus })}\n`)
}

interface Result {
  readonly ok: number
  readonly failed: number
  readonly lastStatus: number
}

const run = (impl: "effect-oauth" | "badgateway") =>
  Effect.gen(function*() {
    const server = yield* TestServer.make({ accessTokenLifetimeSeconds: lifetimeSeconds, rotateRefreshTokens: true })
    const issued = yield* server.issueToken({ scopes: ["identify"], lifetimeSeconds })
    const now = yield* Clock.currentTimeMillis
    const common = {
      serverUrl: server.url,
      clientId: server.client.clientId,
      clientSecret: Redacted.value(Option.getOrThrow(server.client.clientSecret))
    }
    let children: ReadonlyArray<Processes.Child>
    if (impl === "effect-oauth") {
      const redis = yield* RedisServer.make()
      const store = yield* RedisTokenStore.make({ url: redis.url })
      yield* store.set("bench/fleet", TestServer.toToken(issued, now), { _tag: "Absent" })
      const bundled = yield* Processes.bundle(fleetChild)
      const job = { ...common, mode: "user", redisUrl: redis.url, key: "bench/fleet", millis }
      children = yield* Effect.forEach(
        Array.from({ length: processes }),
        () => Processes.start(fleetChild, bundled, [JSON.stringify(job)])
      )
    } else {
      const job: Job = {
        ...common,
        accessToken: issued.accessToken,
        refreshToken: issued.refreshToken!,
        expiresAt: now + lifetimeSeconds * 1000
      }
      children = yield* Effect.forEach(
        Array.from({ length: processes }),
        () => Processes.start(self, undefined, ["badgateway", JSON.stringify(job)])
      )
    }
    const results = yield* Effect.forEach(
      children,
      (child) => Effect.map(child.waitFor("result", Duration.seconds(60)), (message) => message as unknown as Result),
      { concurrency: "unbounded" }
    )
    const counters = yield* server.counters
    const refreshes = counters.tokenRequests.refresh_token
    return {
      processes,
      windows: millis / (lifetimeSeconds * 1000),
      tokenRequestsPerWindow:
        Math.round(((refreshes.ok + refreshes.error) / (millis / (lifetimeSeconds * 1000))) * 100) /
        100,
      invalidGrant: counters.invalidGrant,
      failedCalls: results.reduce((sum, result) => sum + result.failed, 0),
      calls: results.reduce((sum, result) => sum + result.ok + result.failed, 0),
      lostSessions: results.filter((result) => result.lastStatus !== 200).length
    }
  }).pipe(Effect.scoped)

/** Both fleets, one after the other; skipped (with a note) where redis-server is not installed. */
export const measureFleet = async (): Promise<Record<string, unknown>> => {
  if (!RedisServer.available) {
    return { skipped: "redis-server is not installed (Debian/Ubuntu: apt-get install redis-server)" }
  }
  return {
    "effect-oauth": await Effect.runPromise(run("effect-oauth")),
    badgateway: await Effect.runPromise(run("badgateway"))
  }
}

if (
  process.argv[2] === "badgateway" && process.argv[1] !== undefined &&
  fileURLToPath(import.meta.url) === process.argv[1]
) {
  await badgatewayChild(JSON.parse(process.argv[3]!) as Job)
  process.exit(0)
}
