import { AuthorizedHttpClient, OAuthClient, Registry, Scopes, TokenStore } from "@effect-oauth/core"
import * as Osu from "@effect-oauth/core/providers/Osu"
import * as Spotify from "@effect-oauth/core/providers/Spotify"
import { Simulation, TestServer } from "@effect-oauth/testing"
import * as HttpClient from "@effect/platform/HttpClient"
import { assert, describe, it } from "@effect/vitest"
import { Clock, Duration, Effect, Fiber, Layer, Option, Redacted, Stream, Supervisor, TestClock } from "effect"

const Env = (options?: TestServer.Options) => Layer.merge(TestServer.layerInMemory(options), TokenStore.layerMemory)

/** Signs `userId` in: a token with a refresh token, stored where the registry reads it. */
const signIn = (registry: Registry.Registry.Service, userId: string) =>
  Effect.gen(function*() {
    const server = yield* TestServer.TestServer
    const issued = yield* server.issueToken({ scopes: ["read"], lifetimeSeconds: 3600, withRefreshToken: true })
    const user = yield* registry.get(userId)
    yield* user.setToken(TestServer.toToken(issued, yield* TestClock.currentTimeMillis, 0))
  })

/** A registry whose slots close after a minute unused. */
const idleAfterAMinute = Effect.gen(function*() {
  const server = yield* TestServer.TestServer
  const registry = yield* Registry.make({
    provider: server.provider(),
    client: server.client,
    idleTimeToLive: Duration.minutes(1)
  })
  return { registry, server }
})

describe("Registry", () => {
  it.scoped("one slot per user, an authorized client per user, size, idle eviction", () =>
    Effect.gen(function*() {
      const { registry, server } = yield* idleAfterAMinute
      yield* signIn(registry, "a")
      yield* signIn(registry, "b")
      assert.strictEqual(yield* registry.size, 2)
      const a = yield* registry.get("a")
      const b = yield* registry.get("b")
      assert.isTrue(a.key.endsWith("/user/a"))
      assert.notStrictEqual(secret(yield* a.token), secret(yield* b.token))
      const http = yield* registry.httpClient("a")
      assert.strictEqual(http, yield* registry.httpClient("a"))
      const response = yield* http.get(server.meEndpoint)
      assert.strictEqual(response.status, 200)
      // Unused for longer than the idle time: evicted; its token stays in the store and comes back.
      yield* TestClock.adjust(Duration.minutes(2))
      assert.strictEqual(yield* registry.size, 0)
      const again = yield* registry.get("a")
      assert.strictEqual(secret(yield* again.token), secret(yield* a.token))
      assert.strictEqual(yield* registry.size, 1)
    }).pipe(Effect.provide(Env())))

  it.scoped("a handle kept past an idle eviction reopens the user's slot: one slot per user, always", () =>
    Effect.gen(function*() {
      const { registry, server } = yield* idleAfterAMinute
      yield* signIn(registry, "kept")
      const kept = yield* registry.get("kept")
      const http = yield* registry.httpClient("kept")
      yield* TestClock.adjust(Duration.minutes(2))
      assert.strictEqual(yield* registry.size, 0)
      // The kept handle's next use reopens the slot, reading the store.
      const first = yield* kept.token
      assert.strictEqual(yield* registry.size, 1)
      const fresh = yield* registry.get("kept")
      assert.strictEqual(yield* fresh.token, first)
      // A refresh through the kept handle is the slot's: the new handle sees its token at once.
      const refreshed = yield* kept.refresh
      assert.notStrictEqual(secret(refreshed), secret(first))
      assert.strictEqual(yield* fresh.token, refreshed)
      // Evicted again: the kept authorized client reopens it too, and spends the stored token.
      yield* TestClock.adjust(Duration.minutes(2))
      assert.strictEqual(yield* registry.size, 0)
      assert.strictEqual((yield* http.get(server.meEndpoint)).status, 200)
      assert.strictEqual(yield* registry.size, 1)
      assert.strictEqual(secret(yield* (yield* registry.get("kept")).token), secret(refreshed))
      assert.strictEqual((yield* server.counters).tokenRequests.refresh_token?.ok, 1)
    }).pipe(Effect.provide(Env())))

  it.scoped("a slot someone watches is not evicted", () =>
    Effect.gen(function*() {
      const { registry } = yield* idleAfterAMinute
      yield* signIn(registry, "watched")
      const user = yield* registry.get("watched")
      const watching = yield* Effect.fork(Stream.runDrain(user.changes))
      yield* TestClock.adjust(Duration.minutes(5))
      assert.strictEqual(yield* registry.size, 1)
      yield* Fiber.interrupt(watching)
      yield* TestClock.adjust(Duration.minutes(2))
      assert.strictEqual(yield* registry.size, 0)
    }).pipe(Effect.provide(Env())))

  it.scoped("a caller interrupted while the user's slot opens does not strand the user", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      const memory = yield* TokenStore.makeMemory
      // A store whose reads take a while, as a database's may.
      const slow: TokenStore.TokenStore.Service = {
        ...memory,
        get: (key) => Effect.zipRight(Effect.sleep(Duration.millis(200)), memory.get(key))
      }
      const registry = yield* Registry.make({ provider: server.provider(), client: server.client }).pipe(
        Effect.provideService(TokenStore.TokenStore, slow)
      )
      const first = yield* Effect.fork(registry.get("late"))
      yield* TestClock.adjust(Duration.millis(50))
      yield* Fiber.interrupt(first)
      const second = yield* Effect.fork(registry.get("late"))
      yield* TestClock.adjust(Duration.millis(200))
      const user = yield* Fiber.join(second)
      assert.isTrue(user.key.endsWith("/user/late"))
      assert.strictEqual(yield* registry.size, 1)
    }).pipe(Effect.provide(Env())))

  it.scoped("remove revokes at the provider, deletes the stored token and forgets the slot", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      const store = yield* TokenStore.TokenStore
      const registry = yield* Registry.make({ provider: server.provider(), client: server.client })
      yield* signIn(registry, "gone")
      const key = (yield* registry.get("gone")).key
      yield* registry.remove("gone")
      assert.strictEqual((yield* server.counters).revocations, 1)
      assert.isTrue(Option.isNone(yield* store.get(key)))
      assert.strictEqual(yield* registry.size, 0)
      const error = yield* Effect.flip(Effect.flatMap(registry.get("gone"), (user) => user.token))
      assert.strictEqual(error._tag, "@effect-oauth/ReauthorizationRequired")
    }).pipe(Effect.provide(Env())))

  it.scoped("100 users cost no fiber each, and each refreshes before expiry", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      const supervisor = yield* Supervisor.track
      const registry = yield* Registry.make({
        provider: server.provider(),
        client: server.client,
        idleTimeToLive: Duration.days(1)
      }).pipe(Effect.supervised(supervisor))
      for (let i = 0; i < 100; i++) yield* signIn(registry, `user-${i}`)
      const live = Effect.flatMap(
        supervisor.value,
        (fibers) => Effect.map(Effect.forEach(fibers, Fiber.poll), (polls) => polls.filter(Option.isNone).length)
      )
      assert.isAtMost(yield* live, 5)
      // Two hours: every token (1 hour) is refreshed twice, in the background, by one scheduler.
      for (let i = 0; i < 12; i++) yield* TestClock.adjust(Duration.minutes(10))
      const counters = yield* server.counters
      assert.strictEqual(counters.tokenRequests.refresh_token?.ok, 200)
      assert.strictEqual(counters.tokenRequests.refresh_token?.error ?? 0, 0)
      assert.isAtMost(yield* live, 5)
      const now = yield* Clock.currentTimeMillis
      const user = yield* registry.get("user-99")
      assert.isAbove(Option.getOrThrow((yield* user.token).expiresAt), now)
    }).pipe(Effect.provide(Env())), { timeout: 120_000 })

  it.scoped("every user's client takes its turn from one rate limit", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      const times: Array<number> = []
      const recorded = Layer.effect(
        HttpClient.HttpClient,
        Effect.map(HttpClient.HttpClient, (client) =>
          HttpClient.tapRequest(client, (request) =>
            request.url.includes("/me")
              ? Effect.map(Clock.currentTimeMillis, (now) =>
                void times.push(now))
              : Effect.void))
      )
      yield* Effect.gen(function*() {
        const registry = yield* Registry.make({
          provider: server.provider(Osu.make, { name: "osu-test" }),
          client: server.client
        })
        const fibers = []
        for (let i = 0; i < 4; i++) {
          yield* signIn(registry, `u${i}`)
          const http = yield* registry.httpClient(`u${i}`)
          for (let j = 0; j < 25; j++) {
            fibers.push(yield* Effect.fork(http.get(server.meEndpoint)))
          }
        }
        for (let i = 0; i < 300 && times.length < 100; i++) {
          yield* TestClock.adjust(Duration.seconds(1))
        }
        yield* Effect.forEach(fibers, Fiber.join)
      }).pipe(Effect.provide(recorded))
      assert.strictEqual(times.length, 100)
      assert.isAtMost(Simulation.busiestWindow(times, 60_000), 60)
    }).pipe(Effect.provide(Env({ flavour: "osu" }))))
})

describe("several providers side by side", () => {
  class OsuApi extends AuthorizedHttpClient.Tag("OsuApi")<OsuApi>() {}
  class SpotifyApi extends AuthorizedHttpClient.Tag("SpotifyApi")<SpotifyApi>() {}

  it.scoped("two APIs, two slots, one program", () =>
    Effect.gen(function*() {
      const osu = yield* TestServer.TestServer
      const layer = Layer.mergeAll(
        OsuApi.layer({
          provider: osu.provider(Osu.make, { name: "osu-test" }),
          client: osu.client,
          session: OAuthClient.clientCredentials(Scopes.make("public"))
        }),
        SpotifyApi.layer({
          provider: osu.provider(Spotify.make, { name: "spotify-test" }),
          client: osu.client,
          session: OAuthClient.clientCredentials(Scopes.make())
        })
      )
      const [a, b] = yield* Effect.gen(function*() {
        const osuApi = yield* OsuApi
        const spotifyApi = yield* SpotifyApi
        return yield* Effect.all([osuApi.get(osu.meEndpoint), spotifyApi.get(osu.meEndpoint)])
      }).pipe(Effect.provide(layer))
      assert.strictEqual(a.status, 200)
      assert.strictEqual(b.status, 200)
      // Two slots: each API fetched its own token.
      assert.strictEqual((yield* osu.counters).tokenRequests.client_credentials?.ok, 2)
    }).pipe(Effect.provide(Env())))
})

const secret = (token: { readonly accessToken: Redacted.Redacted<string> }) => Redacted.value(token.accessToken)
