/**
 * The benchmark: the same scenarios, in one process, against one loopback token and resource
 * server (`@effect-oauth/testing` on 127.0.0.1), for
 *
 * - `effect-oauth`: `OAuthClient` + `AuthorizedHttpClient` over the undici `HttpClient`;
 * - `badgateway`: `@badgateway/oauth2-client`'s `OAuth2Fetch` over Node's `fetch`;
 * - `raw`: the bare undici `HttpClient` with a static bearer header (one token fetched up front).
 *
 * Scenarios (DESIGN.md §7): stampede, expiry, slowEndpoint, busy, retryAfter, lockout, rateLimit,
 * overhead, rotation, users, and the browser bundle. Prints a table and writes bench/results.json.
 */
import { OAuth2Client, OAuth2Fetch } from "@badgateway/oauth2-client"
import { AuthorizedHttpClient, Grant, OAuthClient, Scopes, TokenEndpoint, TokenStore } from "@effect-oauth/core"
import * as Osu from "@effect-oauth/core/providers/Osu"
import { Simulation, TestServer } from "@effect-oauth/testing"
import { HttpClient, HttpClientRequest } from "@effect/platform"
import { NodeHttpClient } from "@effect/platform-node"
import { Clock, Duration, Effect, Fiber, Layer, ManagedRuntime, Option, Redacted, TestClock, TestContext } from "effect"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import { measureBundles } from "./bundle.js"
import { measureFleet } from "./fleet.js"
import { measureUsers } from "./users.js"

type Impl = "effect-oauth" | "badgateway" | "raw"
const impls: ReadonlyArray<Impl> = ["effect-oauth", "badgateway", "raw"]

/** What a scenario drives: one GET of the resource, resolving to a status (0 for an error). */
interface Driver {
  readonly get: () => Promise<number>
  readonly dispose: () => Promise<void>
}

const server = await ManagedRuntime.make(Layer.merge(TestServer.layer(), NodeHttpClient.layerUndici)).runtime()
const run = <A, E>(effect: Effect.Effect<A, E, TestServer.TestServer | HttpClient.HttpClient>) =>
  Effect.runPromise(Effect.provide(effect, server))
const info = await run(TestServer.TestServer)
const provider = info.provider({ clientAuthentication: "client_secret_post" })
const secret = Redacted.value(Option.getOrThrow(info.client.clientSecret))
const scopes = Scopes.make("read")

const counters = () => run(info.counters)
const configure = (patch: Partial<TestServer.Switches>) => run(info.configure(patch))

/** A user token with a refresh token, as a login would leave it. */
const seedUser = async () => {
  const issued = await run(info.issueToken({ scopes: ["read"], withRefreshToken: true }))
  const now = Date.now()
  return { issued, now }
}

const makeDriver = async (
  impl: Impl,
  session: "client" | "user",
  options: { readonly coolDownMillis?: number } = {}
): Promise<Driver> => {
  if (impl === "badgateway") {
    const client = new OAuth2Client({
      clientId: info.client.clientId,
      clientSecret: secret,
      tokenEndpoint: info.tokenEndpoint,
      authenticationMethod: "client_secret_post"
    })
    let stored: Awaited<ReturnType<typeof client.clientCredentials>> | null = null
    if (session === "user") {
      const { issued, now } = await seedUser()
      stored = {
        accessToken: issued.accessToken,
        refreshToken: issued.refreshToken ?? null,
        expiresAt: issued.lifetime === null ? null : now + issued.lifetime * 1000
      }
    }
    const wrapper = new OAuth2Fetch({
      client,
      getNewToken: () => session === "client" ? client.clientCredentials({ scope: ["read"] }) : null,
      getStoredToken: () => stored,
      storeToken: (token) => {
        stored = token
      },
      onError: () => {}
    })
    return {
      get: async () => {
        try {
          const response = await wrapper.fetch(info.meEndpoint)
          await response.arrayBuffer()
          return response.status
        } catch {
          return 0
        }
      },
      dispose: async () => {}
    }
  }
  const base = NodeHttpClient.layerUndici
  if (impl === "raw") {
    const token = await run(
      Effect.flatMap(
        TokenEndpoint.make({ provider, client: info.client }),
        (endpoint) => endpoint.request(Grant.ClientCredentials(scopes))
      )
    )
    const runtime = ManagedRuntime.make(base)
    const http = await runtime.runPromise(HttpClient.HttpClient)
    const authorized = http.pipe(
      HttpClient.mapRequest(HttpClientRequest.bearerToken(Redacted.value(token.accessToken)))
    )
    return {
      get: () =>
        runtime.runPromise(
          authorized.get(info.meEndpoint).pipe(
            Effect.tap((response) => response.arrayBuffer),
            Effect.map((response) => response.status),
            Effect.orElseSucceed(() => 0)
          )
        ),
      dispose: () => runtime.dispose()
    }
  }
  const oauthClient = OAuthClient.layer({
    provider,
    client: info.client,
    session: session === "client" ? OAuthClient.clientCredentials(scopes) : OAuthClient.user("bench"),
    ...(options.coolDownMillis === undefined ? {} : { coolDown: Duration.millis(options.coolDownMillis) })
  })
  const layer = AuthorizedHttpClient.layer().pipe(
    Layer.provideMerge(oauthClient),
    Layer.provide(TokenStore.layerMemory),
    Layer.provideMerge(base)
  )
  const runtime = ManagedRuntime.make(layer)
  if (session === "user") {
    const { issued, now } = await seedUser()
    await runtime.runPromise(
      Effect.flatMap(OAuthClient.OAuthClient, (client) => client.setToken(TestServer.toToken(issued, now, 0)))
    )
  }
  const http = await runtime.runPromise(AuthorizedHttpClient.AuthorizedHttpClient)
  return {
    get: () =>
      runtime.runPromise(
        http.get(info.meEndpoint).pipe(
          Effect.tap((response) => response.arrayBuffer),
          Effect.map((response) => response.status),
          Effect.orElseSucceed(() => 0)
        )
      ),
    dispose: () => runtime.dispose()
  }
}

const tokenRequestCount = async () => {
  const c = await counters()
  return Object.values(c.tokenRequests).reduce((sum, entry) => sum + entry.ok + entry.error, 0)
}

/** Runs `workers` loops of GETs for `millis`; returns failures and the longest single request. */
const load = async (driver: Driver, workers: number, millis: number) => {
  const end = performance.now() + millis
  let failed = 0
  let longest = 0
  let requests = 0
  await Promise.all(Array.from({ length: workers }, async () => {
    // Bounded in time, and in count as a guard.
    for (let i = 0; i < 1_000_000 && performance.now() < end; i++) {
      const start = performance.now()
      const status = await driver.get()
      longest = Math.max(longest, performance.now() - start)
      requests++
      if (status !== 200) failed++
    }
  }))
  return { failed, longestStallMs: Math.round(longest), requests }
}

// BENCH_ONLY=overhead (comma-separated) runs some scenarios only.
const only = (scenario: string) => (process.env.BENCH_ONLY ?? scenario).split(",").includes(scenario)

const results: Record<string, Record<string, unknown>> = {}
const record = (scenario: string, impl: Impl, figures: Record<string, unknown>) => {
  results[scenario] = { ...results[scenario], [impl]: figures }
}

// stampede: 1,000 concurrent requests from a fresh client.
for (const impl of only("stampede") ? impls : []) {
  await configure({ accessTokenLifetimeSeconds: 3600 })
  const before = await tokenRequestCount()
  const driver = await makeDriver(impl, "client")
  const statuses = await Promise.all(Array.from({ length: 1000 }, () => driver.get()))
  record("stampede", impl, {
    tokenRequests: (await tokenRequestCount()) - before,
    failed: statuses.filter((s) => s !== 200).length
  })
  await driver.dispose()
}

// Tokens expiring under load: `workers` loops for `millis` with `lifetime`-second tokens, the token
// endpoint answering after `tokenDelayMillis` (a slow provider).
const expiring = async (
  scenario: string,
  options: { lifetime: number; workers: number; millis: number; tokenDelayMillis?: number }
) => {
  for (const impl of only(scenario) ? impls : []) {
    await configure({ accessTokenLifetimeSeconds: options.lifetime })
    const slow = options.tokenDelayMillis === undefined
      ? []
      : Array.from({ length: 500 }, () => ({ path: "/token", delayMillis: options.tokenDelayMillis }))
    await run(info.injectFaults(slow))
    const driver = await makeDriver(impl, "client")
    await driver.get()
    const before = await counters()
    const beforeTokens = await tokenRequestCount()
    const outcome = await load(driver, options.workers, options.millis)
    const after = await counters()
    const tokenRequests = (await tokenRequestCount()) - beforeTokens
    await driver.dispose()
    await run(info.clearFaults)
    // The same load with a token that outlives the run: the longest request when no refresh happens,
    // which is what a stall during a refresh is compared with (DESIGN.md §7).
    await configure({ accessTokenLifetimeSeconds: 3600 })
    const control = await makeDriver(impl, "client")
    await control.get()
    const without = await load(control, options.workers, options.millis)
    await control.dispose()
    record(scenario, impl, {
      tokenRequests,
      failed: outcome.failed,
      serverSaw401: (after.resourceRequests["401"] ?? 0) - (before.resourceRequests["401"] ?? 0),
      longestStallMs: outcome.longestStallMs,
      longestWithoutRefreshMs: without.longestStallMs,
      requests: outcome.requests
    })
  }
}

// expiry: 2-second tokens, 50 workers for 7 seconds.
await expiring("expiry", { lifetime: 2, workers: 50, millis: 7000 })
// slowEndpoint: the same with a token endpoint that takes 300 ms.
await expiring("slowEndpoint", { lifetime: 2, workers: 50, millis: 7000, tokenDelayMillis: 300 })
// busy: 1-second tokens, 100 workers for 4 seconds.
await expiring("busy", { lifetime: 1, workers: 100, millis: 4000 })

// retryAfter: for 5 s the token endpoint answers 429 with Retry-After: 2; 20 callers on a cold client
// keep calling for 8 s.
for (const impl of only("retryAfter") ? impls.filter((i) => i !== "raw") : []) {
  await configure({ accessTokenLifetimeSeconds: 3600 })
  const busy = { path: "/token", status: 429, headers: { "retry-after": "2" }, body: "{}" }
  await run(info.injectFaults(Array.from({ length: 10_000 }, () => busy)))
  const before = await counters()
  const driver = await makeDriver(impl, "client")
  const start = performance.now()
  let insideWindow = -1
  const window = setTimeout(() => {
    void counters().then((c) => {
      insideWindow = c.faults - before.faults
      return run(info.clearFaults)
    })
  }, 5000)
  let failedAfter = 0
  await Promise.all(Array.from({ length: 20 }, async () => {
    for (let i = 0; i < 100_000 && performance.now() - start < 8000; i++) {
      const sent = performance.now() - start
      const status = await driver.get()
      if (status !== 200 && sent > 5000 + 2000) failedAfter++
      // A caller that was refused at once tries again a little later, as an application would.
      if (status !== 200) await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }))
  clearTimeout(window)
  await run(info.clearFaults)
  record("retryAfter", impl, { tokenRequestsInWindow: insideWindow, failedAfterWindow: failedAfter })
  await driver.dispose()
}

// lockout: the client-credentials grant is refused for 3 s, then allowed again; effect-oauth with its
// cool-down shortened to 500 ms. How long after the grant is allowed do calls succeed again?
for (const impl of only("lockout") ? impls.filter((i) => i !== "raw") : []) {
  await configure({ accessTokenLifetimeSeconds: 3600 })
  const refused = { path: "/token", status: 400, body: JSON.stringify({ error: "unauthorized_client" }) }
  await run(info.injectFaults(Array.from({ length: 10_000 }, () => refused)))
  const driver = await makeDriver(impl, "client", { coolDownMillis: 500 })
  const start = performance.now()
  setTimeout(() => void run(info.clearFaults), 3000)
  let recoveredAt = Number.NaN
  for (let i = 0; i < 100_000 && performance.now() - start < 30_000; i++) {
    if (await driver.get() === 200) {
      recoveredAt = performance.now() - start
      break
    }
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  record("lockout", impl, {
    secondsUntilServingAfterAllowed: Math.round((recoveredAt - 3000) / 10) / 100,
    restarted: false
  })
  await driver.dispose()
}

// rateLimit: 200 requests through the osu! preset (60 a minute), on simulated time for effect-oauth;
// the most requests in any 60-second window.
if (only("rateLimit")) {
  const times: Array<number> = []
  await Effect.runPromise(
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      const layer = AuthorizedHttpClient.layer().pipe(
        Layer.provideMerge(
          OAuthClient.layer({
            provider: Osu.make({
              tokenEndpoint: server.tokenEndpoint,
              apiBaseUrl: server.apiBaseUrl,
              name: "osu-bench"
            }),
            client: server.client,
            session: OAuthClient.clientCredentials(Scopes.make("public"))
          })
        ),
        Layer.provide(TokenStore.layerMemory),
        Layer.provide(Layer.effect(
          HttpClient.HttpClient,
          Effect.map(
            HttpClient.HttpClient,
            (client) =>
              HttpClient.tapRequest(client, (request) =>
                request.url.includes("/token")
                  ? Effect.void
                  : Effect.map(Clock.currentTimeMillis, (now) => void times.push(now)))
          )
        ))
      )
      yield* Effect.gen(function*() {
        const http = yield* AuthorizedHttpClient.AuthorizedHttpClient
        const fibers = yield* Effect.forEach(
          Array.from({ length: 200 }),
          () => Effect.fork(http.get(server.meEndpoint))
        )
        for (let i = 0; i < 600 && times.length < 200; i++) yield* TestClock.adjust(Duration.seconds(1))
        yield* Effect.forEach(fibers, Fiber.join)
      }).pipe(Effect.provide(layer))
    }).pipe(
      Effect.scoped,
      Effect.provide(TestServer.layerInMemory({ flavour: "osu" })),
      Effect.provide(TestContext.TestContext)
    )
  )
  record("rateLimit", "effect-oauth", {
    requests: times.length,
    mostInAny60s: Simulation.busiestWindow(times, 60_000),
    minutesFor200: Math.round((Math.max(...times) - Math.min(...times)) / 600) / 100
  })
  // badgateway has no rate limit: 200 requests go out as fast as the server answers.
  await configure({ accessTokenLifetimeSeconds: 3600 })
  const driver = await makeDriver("badgateway", "client")
  const sent: Array<number> = []
  await Promise.all(Array.from({ length: 200 }, async () => {
    sent.push(performance.now())
    await driver.get()
  }))
  record("rateLimit", "badgateway", { requests: sent.length, mostInAny60s: Simulation.busiestWindow(sent, 60_000) })
  await driver.dispose()
}

// overhead: 5,000 sequential requests with a long-lived token, median of 5 alternating repetitions.
if (only("overhead")) {
  await configure({ accessTokenLifetimeSeconds: 86400 })
  const drivers = Object.fromEntries(
    await Promise.all(impls.map(async (impl) => [impl, await makeDriver(impl, "client")] as const))
  ) as Record<Impl, Driver>
  for (const impl of impls) for (let i = 0; i < 200; i++) await drivers[impl].get() // warm-up
  const times: Record<Impl, Array<number>> = { "effect-oauth": [], badgateway: [], raw: [] }
  for (let rep = 0; rep < 5; rep++) {
    for (const impl of rep % 2 === 0 ? impls : [...impls].reverse()) {
      const start = performance.now()
      for (let i = 0; i < 5000; i++) await drivers[impl].get()
      times[impl].push((performance.now() - start) / 5000)
    }
  }
  const median = (xs: Array<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
  const raw = median(times.raw)
  for (const impl of impls) {
    const perRequest = median(times[impl])
    record("overhead", impl, {
      ratioVsRaw: Math.round((perRequest / raw) * 1000) / 1000,
      microsPerRequest: Math.round(perRequest * 1000)
    })
    await drivers[impl].dispose()
  }
}

// rotation: rotating refresh tokens with reuse detection, 1-second tokens, 20 workers for 4 seconds.
for (const impl of only("rotation") ? impls : []) {
  await configure({ accessTokenLifetimeSeconds: 1, rotateRefreshTokens: true })
  const driver = await makeDriver(impl, impl === "raw" ? "client" : "user")
  const before = (await counters()).invalidGrant
  const outcome = await load(driver, 20, 4000)
  const lastStatus = await driver.get()
  record("rotation", impl, {
    invalidGrant: (await counters()).invalidGrant - before,
    lostSession: lastStatus !== 200,
    failed: outcome.failed
  })
  await driver.dispose()
}

// users: 10,000 user slots in one Registry on simulated time, beside a Map of OAuth2Fetch (see users.ts).
if (only("users")) results.users = await measureUsers()

// bundle: what a SPA pays for the browser login over the same SPA without it (see bundle.ts).
if (only("bundle")) {
  const bundle = await measureBundles()
  results.bundle = bundle
}

// fleet: 4 processes sharing one rotating user token through Redis, against 4 badgateway clients (fleet.ts).
if (only("fleet")) results.fleet = await measureFleet()

const here = Path.dirname(fileURLToPath(import.meta.url))
const file = Path.join(here, "..", "results.json")
const previous = Fs.existsSync(file) ? JSON.parse(Fs.readFileSync(file, "utf8")) : {}
Fs.writeFileSync(file, JSON.stringify({ ...previous, ...results }, null, 2) + "\n")

for (const [scenario, byImpl] of Object.entries(results)) {
  // The bundle's ten largest contributors are a list of their own.
  const { largest, ...figures } = byImpl as Record<string, unknown>
  console.log(`\n${scenario}`)
  console.table(figures)
  if (largest !== undefined) console.table(largest)
}
console.log(`\nwritten to ${Path.relative(process.cwd(), file)}`)
process.exit(0)
