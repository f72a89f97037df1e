/**
 * Two workers — two processes, as two hosts would run them — share one osu! client-credentials
 * token and the osu! rate limit through Redis: one token request between them, and never more
 * than 60 API requests a minute for both together.
 *
 *   REDIS_URL=redis://… OSU_CLIENT_ID=… OSU_CLIENT_SECRET=… pnpm --filter @effect-oauth/examples fleet-workers
 *
 * Without `REDIS_URL` it starts a throwaway `redis-server` of its own (when one is installed); without
 * the osu! variables it runs against the embedded test server, configured as osu!.
 */
import { AuthorizedHttpClient, ClientConfig, OAuthClient, Scopes } from "@effect-oauth/core"
import * as Osu from "@effect-oauth/core/providers/Osu"
import { NodeOAuth } from "@effect-oauth/platform-node"
import { RedisRateLimit, RedisTokenStore } from "@effect-oauth/redis"
import { NodeRuntime } from "@effect/platform-node"
import { Config, Console, Effect, Layer, Option, Redacted, type Scope } from "effect"
import { spawn } from "node:child_process"
import { fileURLToPath } from "node:url"
// The throwaway server of the package's tests: 127.0.0.1, a free port, a temp directory, no persistence.
import * as RedisServer from "../../packages/redis/test/redisServer.js"
import { summary, target } from "./internal/target.js"

/** One worker: its own Redis connections and its own client, as on a host of its own. */
const worker = Effect.gen(function*() {
  const name = yield* Config.string("FLEET_WORKER")
  const redis = { url: yield* Config.redacted("REDIS_URL"), prefix: "fleet-example:" }
  const tokenEndpoint = yield* Config.option(Config.string("FLEET_TOKEN_ENDPOINT"))
  const api = yield* Config.withDefault(Config.string("FLEET_API"), "https://osu.ppy.sh/api/v2")
  const client = yield* ClientConfig.config("OSU")
  const provider = Option.match(tokenEndpoint, {
    onNone: () => Osu.provider,
    onSome: (endpoint) => Osu.make({ tokenEndpoint: endpoint, apiBaseUrl: api })
  })
  const layer = AuthorizedHttpClient.layer().pipe(
    Layer.provideMerge(OAuthClient.layer({
      provider,
      client,
      session: OAuthClient.clientCredentials(Scopes.make("public"))
    })),
    // The token lives in Redis: whichever worker asks first fetches it (under the refresh lease),
    // the other waits for it and reads it.
    Layer.provide([RedisTokenStore.layer(redis), NodeOAuth.layerHttpClient]),
    // osu!'s 60 a minute, counted for both workers together: the authorized client takes each
    // request's turn from it.
    Layer.provide(RedisRateLimit.layer(redis))
  )
  yield* Effect.gen(function*() {
    const http = yield* AuthorizedHttpClient.AuthorizedHttpClient
    for (const id of [2, 3]) {
      const user = yield* http.get(`${api}/users/${id}`)
      yield* Console.log(`${name}: GET /users/${id} -> ${user.status} ${summary(yield* user.json, 60)}`)
    }
  }).pipe(Effect.provide(layer))
})

/** Starts this file again as a worker, and waits for it. */
const runWorker = (name: string, env: Record<string, string>) =>
  Effect.async<number>((resume) => {
    const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url)], {
      env: { ...process.env, ...env, FLEET_WORKER: name },
      stdio: ["ignore", "inherit", "inherit"]
    })
    child.once("exit", (code) => resume(Effect.succeed(code ?? 1)))
    return Effect.sync(() => child.kill())
  })

const coordinator = Effect.gen(function*() {
  const given = yield* Config.option(Config.redacted("REDIS_URL"))
  let redisUrl: string
  if (Option.isSome(given)) {
    redisUrl = Redacted.value(given.value)
    yield* Console.log("Using the Redis of REDIS_URL.")
  } else if (RedisServer.available) {
    redisUrl = (yield* RedisServer.make()).url
    yield* Console.log(`No REDIS_URL in the environment: started a throwaway redis-server at ${redisUrl}.`)
  } else {
    return yield* Console.log(
      "No REDIS_URL in the environment, and no redis-server on this machine: install Redis " +
        "(Debian/Ubuntu: sudo apt-get install redis-server; macOS: brew install redis) or set " +
        "REDIS_URL=redis://host:6379, then run this again."
    )
  }
  const osu = yield* target({ prefix: "OSU", name: "osu!", flavour: "osu", make: Osu.make, apiPath: "/api/v2" })
  const env: Record<string, string> = { REDIS_URL: redisUrl }
  if (Option.isSome(osu.server)) {
    // The embedded server's client, handed to the workers the way a deployment hands them secrets.
    env.FLEET_TOKEN_ENDPOINT = osu.server.value.tokenEndpoint
    env.FLEET_API = osu.api
    env.OSU_CLIENT_ID = osu.client.clientId
    env.OSU_CLIENT_SECRET = Redacted.value(Option.getOrThrow(osu.client.clientSecret))
  }
  const codes = yield* Effect.all([runWorker("worker 1", env), runWorker("worker 2", env)], {
    concurrency: "unbounded"
  })
  if (codes.some((code) => code !== 0)) return yield* Effect.dieMessage(`a worker failed (exit codes ${codes})`)
  if (Option.isSome(osu.server)) {
    const counters = yield* osu.server.value.counters
    yield* Console.log(
      `Token requests the server saw: ${counters.tokenRequests.client_credentials.ok}, for both workers ` +
        "(the other one found the token in Redis)."
    )
  }
})

const main: Effect.Effect<void, unknown, Scope.Scope> = process.env.FLEET_WORKER === undefined ? coordinator : worker

NodeRuntime.runMain(Effect.scoped(main))
