import { AuthorizedHttpClient, OAuthClient, RateLimit, Scopes, TokenStore } from "@effect-oauth/core"
import type * as Provider from "@effect-oauth/core/Provider"
import * as Osu from "@effect-oauth/core/providers/Osu"
import * as Spotify from "@effect-oauth/core/providers/Spotify"
import { Simulation, TestServer } from "@effect-oauth/testing"
import { FetchHttpClient, HttpClient } from "@effect/platform"
import { NodeHttpClient } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Clock, Context, Duration, Effect, Fiber, Layer, Option, Redacted, TestClock } from "effect"
import { recording } from "./LoopbackServer.js"

// Typed as any string, as scopes read at run time are: the types cannot know what is granted.
const scopes = Scopes.make<ReadonlyArray<string>>("read")

const Env = (
  options?: TestServer.Options,
  clientOptions?: AuthorizedHttpClient.Options,
  providerOptions?: Partial<Pick<Provider.Provider, "unauthorizedGracePeriod" | "apiBaseUrl">>,
  server: Layer.Layer<TestServer.TestServer | HttpClient.HttpClient> = TestServer.layerInMemory(options)
) => {
  const client = Layer.unwrapEffect(
    Effect.map(TestServer.TestServer, (s) =>
      OAuthClient.layer({
        provider: { ...s.provider(), ...providerOptions },
        client: s.client,
        session: OAuthClient.clientCredentials(scopes)
      }))
  )
  const stack = AuthorizedHttpClient.layer(clientOptions).pipe(
    Layer.provideMerge(client),
    Layer.provideMerge(TokenStore.layerMemory),
    Layer.provideMerge(server)
  )
  return stack
}

/** The test server on a real loopback socket, reached through one of the platform's HTTP clients. */
const SocketEnv = (http: Layer.Layer<HttpClient.HttpClient>, clientOptions?: AuthorizedHttpClient.Options) =>
  Env(undefined, clientOptions, undefined, Layer.merge(TestServer.layer(), http))

const httpClients = [["undici", NodeHttpClient.layerUndici], ["fetch", FetchHttpClient.layer]] as const

const accessToken = Effect.flatMap(OAuthClient.OAuthClient, (client) => client.token).pipe(
  Effect.map((token) => Redacted.value(token.accessToken))
)

const me = Effect.gen(function*() {
  const server = yield* TestServer.TestServer
  const http = yield* AuthorizedHttpClient.AuthorizedHttpClient
  return yield* http.get(server.meEndpoint)
})

const apiStatus = (status: number) =>
  Effect.map(TestServer.TestServer, (server) => server).pipe(
    Effect.flatMap((server) => server.counters),
    Effect.map((counters) => counters.resourceRequests[String(status)] ?? 0)
  )

const faults = Effect.map(Effect.flatMap(TestServer.TestServer, (server) => server.counters), (c) => c.faults)

const tokenRequests = Effect.flatMap(TestServer.TestServer, (server) => server.counters).pipe(
  Effect.map((counters) => counters.tokenRequests["client_credentials"]?.ok ?? 0)
)

describe("AuthorizedHttpClient", () => {
  it.effect("sends the token in the Authorization header", () =>
    Effect.gen(function*() {
      const response = yield* me
      assert.strictEqual(response.status, 200)
      const body = (yield* response.json) as { readonly username: string }
      assert.strictEqual(body.username, "test-user")
    }).pipe(Effect.provide(Env())))

  it.effect("a 401 causes one shared refresh and one retry with the new token", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      yield* me
      yield* server.revokeAll()
      const responses = yield* Effect.all(Array.from({ length: 20 }, () => me), { concurrency: "unbounded" })
      assert.isTrue(responses.every((r) => r.status === 200))
      assert.strictEqual(yield* tokenRequests, 2)
    }).pipe(Effect.provide(Env())))

  it.effect("a second 401 after the refresh is a typed error", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      yield* me
      yield* server.injectFaults([
        { path: "/me", status: 401, body: "{}" },
        { path: "/me", status: 401, body: "{}" }
      ])
      const error = yield* Effect.flip(me)
      assert.strictEqual(error._tag, "@effect-oauth/ReauthorizationRequired")
    }).pipe(Effect.provide(Env())))

  it.effect("a 401 for a token that had not expired, without a refresh token, is not called expired", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      const layer = AuthorizedHttpClient.layer().pipe(
        Layer.provideMerge(
          OAuthClient.layer({ provider: server.provider(), client: server.client, session: OAuthClient.user("u") })
        ),
        Layer.provide(TokenStore.layerMemory)
      )
      const issued = yield* server.issueToken({ scopes: ["read"], withRefreshToken: false, lifetimeSeconds: 3600 })
      const error = yield* Effect.gen(function*() {
        yield* Effect.flatMap(OAuthClient.OAuthClient, (client) => client.setToken(TestServer.toToken(issued, 0)))
        yield* server.injectFaults([{ path: "/me", status: 401, body: "{}" }])
        return yield* Effect.flip(me)
      }).pipe(Effect.provide(layer))
      assert.strictEqual(
        error._tag === "@effect-oauth/ReauthorizationRequired" ? error.reason : error._tag,
        "NoRefreshToken"
      )
      assert.include(error.message, "refused")
      assert.notInclude(error.message.toLowerCase(), "expired")
    }).pipe(Effect.provide(TestServer.layerInMemory())))

  it.effect("with a grace period, a 401 right after the refresh is retried once more after the pause", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      yield* me
      yield* server.injectFaults([
        { path: "/me", status: 401, body: "{}" },
        { path: "/me", status: 401, body: "{}" }
      ])
      const fiber = yield* Effect.fork(me)
      yield* TestClock.adjust(Duration.millis(499))
      assert.isTrue(Option.isNone(yield* Fiber.poll(fiber)), "the retry waits for the grace period")
      yield* TestClock.adjust(Duration.millis(1))
      const response = yield* Fiber.join(fiber)
      assert.strictEqual(response.status, 200)
      assert.strictEqual(yield* tokenRequests, 2)
    }).pipe(Effect.provide(Env({}, { unauthorizedGracePeriod: Duration.millis(500) }))))

  it.effect("the Spotify preset waits out its grace period; a third 401 is still a typed error", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(Spotify.provider.unauthorizedGracePeriod, Option.some(Duration.millis(500)))
      assert.isTrue(Option.isNone(Osu.provider.unauthorizedGracePeriod))
      const server = yield* TestServer.TestServer
      yield* me
      yield* server.injectFaults([
        { path: "/me", status: 401, body: "{}" },
        { path: "/me", status: 401, body: "{}" },
        { path: "/me", status: 401, body: "{}" }
      ])
      const fiber = yield* Effect.fork(Effect.flip(me))
      yield* TestClock.adjust(Duration.millis(499))
      // Two 401s so far (the first, and the retry right after the refresh); the third request
      // waits for the grace period.
      assert.strictEqual(yield* faults, 2)
      assert.isTrue(Option.isNone(yield* Fiber.poll(fiber)))
      yield* TestClock.adjust(Duration.millis(1))
      const error = yield* Fiber.join(fiber)
      assert.strictEqual(error._tag, "@effect-oauth/ReauthorizationRequired")
      assert.strictEqual(yield* faults, 3)
    }).pipe(Effect.provide(Env({}, {}, { unauthorizedGracePeriod: Spotify.provider.unauthorizedGracePeriod }))))

  it.effect("a retry refused with a token another fiber refreshed earlier gets one refresh of its own", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      const client = yield* OAuthClient.OAuthClient
      yield* me
      // This request waits a second on a busy server and is then refused; meanwhile another fiber
      // refreshes the slot. The retry with that token is refused too (it waited as well).
      yield* server.injectFaults([
        { path: "/me", status: 401, body: "{}", delayMillis: 1000 },
        { path: "/me", status: 401, body: "{}" }
      ])
      const waiting = yield* Effect.fork(me)
      yield* TestClock.adjust(Duration.millis(500))
      yield* client.refresh
      yield* TestClock.adjust(Duration.millis(500))
      const response = yield* Fiber.join(waiting)
      assert.strictEqual(response.status, 200)
      assert.strictEqual(yield* faults, 2)
      // The first token, the other fiber's refresh, and one refresh of the request's own.
      assert.strictEqual(yield* tokenRequests, 3)
    }).pipe(Effect.provide(Env())))

  it.effect("a token refused again after the refresh is dropped: the next call fetches a new one", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      yield* me
      yield* server.injectFaults([
        { path: "/me", status: 401, body: "{}" },
        { path: "/me", status: 401, body: "{}" }
      ])
      const refused = yield* Effect.flatMap(OAuthClient.OAuthClient, (client) => client.token)
      assert.strictEqual((yield* Effect.flip(me))._tag, "@effect-oauth/ReauthorizationRequired")
      // The refused token is not spent again: the next call carries a new one.
      const next = yield* Effect.flatMap(OAuthClient.OAuthClient, (client) => client.token)
      assert.notStrictEqual(next.accessToken, refused.accessToken)
      assert.isAbove(next.version, refused.version)
      assert.strictEqual((yield* me).status, 200)
      assert.strictEqual(yield* tokenRequests, 3)
      assert.strictEqual(yield* faults, 2)
    }).pipe(Effect.provide(Env())))

  it.effect("a user's token refused again after the refresh is dropped: the user signs in again", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      const store = yield* TokenStore.makeMemory
      const layer = AuthorizedHttpClient.layer().pipe(
        Layer.provideMerge(
          OAuthClient.layer({ provider: server.provider(), client: server.client, session: OAuthClient.user("ann") })
        ),
        Layer.provide(Layer.succeed(TokenStore.TokenStore, store))
      )
      yield* Effect.gen(function*() {
        const client = yield* OAuthClient.OAuthClient
        const issued = yield* server.issueToken({ scopes: ["read"], lifetimeSeconds: 3600, withRefreshToken: true })
        yield* client.setToken(TestServer.toToken(issued, yield* TestClock.currentTimeMillis, 0))
        yield* server.injectFaults([
          { path: "/me", status: 401, body: "{}" },
          { path: "/me", status: 401, body: "{}" }
        ])
        assert.strictEqual((yield* Effect.flip(me))._tag, "@effect-oauth/ReauthorizationRequired")
        const again = yield* Effect.flip(me)
        assert.strictEqual(again._tag, "@effect-oauth/ReauthorizationRequired")
        // Nothing more was sent: the second call knew the user has to sign in again.
        assert.strictEqual(yield* faults, 2)
        assert.isTrue(Option.isNone(yield* store.get(client.key)))
      }).pipe(Effect.provide(layer))
    }).pipe(Effect.provide(TestServer.layerInMemory())))

  it.effect("after a client secret reset: one refresh attempt for a burst, then a fatal error, no loop", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      yield* me
      yield* server.resetSecret()
      const results = yield* Effect.all(Array.from({ length: 10 }, () => Effect.flip(me)), {
        concurrency: "unbounded"
      })
      assert.isTrue(results.every((e) => e.reason === "ClientAuthentication"))
      const counters = yield* server.counters
      assert.strictEqual(counters.tokenRequests["client_credentials"]?.error ?? 0, 1)
    }).pipe(Effect.provide(Env())))

  it.effect("403 insufficient_scope is a typed error naming the required scopes, without a refresh", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      const http = yield* AuthorizedHttpClient.AuthorizedHttpClient
      const error = yield* Effect.flip(http.get(`${server.meEndpoint}?scope=admin`))
      assert.strictEqual(error._tag, "@effect-oauth/ScopeError")
      if (error._tag === "@effect-oauth/ScopeError") assert.deepStrictEqual(error.required, ["admin"])
      assert.strictEqual(yield* tokenRequests, 1)
    }).pipe(Effect.provide(Env())))

  it.effect("requireScopes fails before sending when a scope is not granted", () =>
    Effect.gen(function*() {
      const provider = (yield* TestServer.TestServer).provider()
      const error = yield* Effect.flip(me.pipe(AuthorizedHttpClient.requireScopes(provider, "write")))
      assert.strictEqual(error._tag, "@effect-oauth/ScopeError")
      assert.strictEqual(yield* apiStatus(200), 0)
      const ok = yield* me.pipe(AuthorizedHttpClient.requireScopes(provider, "read"))
      assert.strictEqual(ok.status, 200)
    }).pipe(Effect.provide(Env())))

  it.effect("nested requireScopes need every scope named by either", () =>
    Effect.gen(function*() {
      const provider = (yield* TestServer.TestServer).provider()
      const nested = me.pipe(
        AuthorizedHttpClient.requireScopes(provider, "write"),
        AuthorizedHttpClient.requireScopes(provider, "read")
      )
      const error = yield* Effect.flip(nested)
      assert.strictEqual(error._tag, "@effect-oauth/ScopeError")
      if (error._tag === "@effect-oauth/ScopeError") assert.deepStrictEqual(error.required, ["read", "write"])
      assert.strictEqual(yield* apiStatus(200), 0)
    }).pipe(Effect.provide(Env())))

  it.effect("a 429 is waited out for Retry-After seconds", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      yield* me
      yield* server.injectFaults([{ path: "/me", status: 429, headers: { "retry-after": "7" }, body: "" }])
      const fiber = yield* Effect.fork(me)
      yield* TestClock.adjust(Duration.seconds(6))
      assert.isTrue(Option.isNone(yield* Fiber.poll(fiber)))
      yield* TestClock.adjust(Duration.seconds(1))
      const response = yield* Fiber.join(fiber)
      assert.strictEqual(response.status, 200)
    }).pipe(Effect.provide(Env())))

  it.effect("a 429 asking for a longer wait than allowed is returned to the caller", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      yield* server.injectFaults([{ path: "/me", status: 429, headers: { "retry-after": "3600" }, body: "" }])
      const response = yield* me
      assert.strictEqual(response.status, 429)
    }).pipe(Effect.provide(Env())))

  it.effect("5xx is returned to the caller as a response", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      yield* server.injectFaults([{ path: "/me", status: 503, body: "busy" }])
      const response = yield* me
      assert.strictEqual(response.status, 503)
      assert.strictEqual(yield* tokenRequests, 1)
    }).pipe(Effect.provide(Env())))

  it.effect("WWW-Authenticate on a 2xx is ignored", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      yield* server.injectFaults([
        { path: "/me", status: 200, headers: { "www-authenticate": "Bearer error=\"invalid_token\"" }, body: "{}" }
      ])
      const response = yield* me
      assert.strictEqual(response.status, 200)
      assert.strictEqual(yield* tokenRequests, 1)
    }).pipe(Effect.provide(Env())))

  it("reads Retry-After as seconds or as an HTTP date", () => {
    const now = Date.parse("2026-01-01T00:00:00Z")
    assert.deepStrictEqual(AuthorizedHttpClient.retryAfterMillis("12", now), Option.some(12_000))
    assert.deepStrictEqual(
      AuthorizedHttpClient.retryAfterMillis("Thu, 01 Jan 2026 00:00:30 GMT", now),
      Option.some(30_000)
    )
    assert.deepStrictEqual(AuthorizedHttpClient.retryAfterMillis("soon", now), Option.none())
    assert.deepStrictEqual(AuthorizedHttpClient.retryAfterMillis(undefined, now), Option.none())
  })
})

describe("AuthorizedHttpClient trusted origins (BEHAVIOUR.md §1, §3)", () => {
  for (const [name, http] of httpClients) {
    it.live(`a request to another origin fails with UntrustedOrigin and is not sent (${name})`, () =>
      Effect.gen(function*() {
        const elsewhere = yield* recording()
        yield* Effect.gen(function*() {
          const http = yield* AuthorizedHttpClient.AuthorizedHttpClient
          const error = yield* Effect.flip(http.get(`${elsewhere.url}/steal`))
          assert.strictEqual(error._tag, "@effect-oauth/UntrustedOrigin")
          if (error._tag !== "@effect-oauth/UntrustedOrigin") return
          assert.strictEqual(error.reason, "NotTrusted")
          assert.strictEqual(error.origin, elsewhere.url)
          assert.include(error.message, elsewhere.url)
          assert.include(error.message, "trustedOrigins")
          // The provider's own API still gets the token.
          assert.strictEqual((yield* me).status, 200)
        }).pipe(Effect.provide(SocketEnv(http)))
        assert.deepStrictEqual(elsewhere.seen, [])
      }).pipe(Effect.scoped))

    it.live(`trustedOrigins widens where the token goes, as a list or a predicate (${name})`, () =>
      Effect.gen(function*() {
        const listed = yield* recording()
        const accepted = yield* recording()
        const port = new URL(accepted.url).port
        const send = (options: AuthorizedHttpClient.Options) =>
          Effect.gen(function*() {
            const http = yield* AuthorizedHttpClient.AuthorizedHttpClient
            const outcome = (url: string) =>
              Effect.match(http.get(url), { onFailure: (error) => error._tag, onSuccess: (r) => r.status })
            return [yield* outcome(`${listed.url}/a`), yield* outcome(`${accepted.url}/b`), yield* accessToken] as const
          }).pipe(Effect.provide(SocketEnv(http, options)))
        const [a1, b1, first] = yield* send({ trustedOrigins: [listed.url] })
        const [a2, b2, second] = yield* send({ trustedOrigins: (url) => url.port === port })
        assert.deepStrictEqual([a1, b1, a2, b2], [
          200,
          "@effect-oauth/UntrustedOrigin",
          "@effect-oauth/UntrustedOrigin",
          200
        ])
        assert.deepStrictEqual(listed.seen, [{ path: "/a", authorization: `Bearer ${first}` }])
        assert.deepStrictEqual(accepted.seen, [{ path: "/b", authorization: `Bearer ${second}` }])
      }).pipe(Effect.scoped))

    it.live(`a redirect to another origin never carries the token (${name})`, () =>
      Effect.gen(function*() {
        const target = yield* recording()
        const redirecting = yield* recording((_, res) => {
          res.writeHead(302, { location: `${target.url}/landed` })
          res.end()
        })
        yield* Effect.gen(function*() {
          const http = yield* AuthorizedHttpClient.AuthorizedHttpClient
          // Whatever the client does with the redirect by itself (fetch follows, undici does not)…
          const response = yield* http.get(`${redirecting.url}/start`)
          assert.include([200, 302], response.status)
          // …and when the caller follows redirects through the authorized client (fetch told not to).
          const error = yield* Effect.flip(HttpClient.followRedirects(http).get(`${redirecting.url}/start`)).pipe(
            Effect.provideService(FetchHttpClient.RequestInit, { redirect: "manual" })
          )
          assert.strictEqual(error._tag, "@effect-oauth/UntrustedOrigin")
          const token = yield* accessToken
          assert.deepStrictEqual(redirecting.seen.map((seen) => seen.authorization), [
            `Bearer ${token}`,
            `Bearer ${token}`
          ])
        }).pipe(Effect.provide(SocketEnv(http, { trustedOrigins: [redirecting.url] })))
        assert.isTrue(target.seen.every((seen) => seen.authorization === undefined))
        assert.strictEqual(target.seen.length, name === "fetch" ? 1 : 0)
      }).pipe(Effect.scoped))

    it.live(`plain http to a host that is not loopback needs allowInsecureHttp (${name})`, () =>
      Effect.gen(function*() {
        const server = yield* recording()
        // An IPv4-mapped IPv6 address reaches 127.0.0.1 without being a loopback host name.
        const mapped = server.url.replace("127.0.0.1", "[::ffff:127.0.0.1]")
        const get = Effect.flatMap(AuthorizedHttpClient.AuthorizedHttpClient, (http) => http.get(`${mapped}/x`))
        const refused = yield* Effect.flip(get.pipe(Effect.provide(SocketEnv(http, { trustedOrigins: [mapped] }))))
        assert.strictEqual(
          refused._tag === "@effect-oauth/UntrustedOrigin" ? refused.reason : refused._tag,
          "InsecureHttp"
        )
        assert.include(refused.message, "allowInsecureHttp")
        assert.deepStrictEqual(server.seen, [])
        const response = yield* get.pipe(
          Effect.provide(SocketEnv(http, { trustedOrigins: [mapped], allowInsecureHttp: true }))
        )
        assert.strictEqual(response.status, 200)
        assert.strictEqual(server.seen.length, 1)
      }).pipe(Effect.scoped))
  }

  it.effect("a provider without apiBaseUrl trusts no origin until told, and says so", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(me)
      assert.strictEqual(error._tag === "@effect-oauth/UntrustedOrigin" ? error.reason : error._tag, "NoTrustedOrigin")
      assert.include(error.message, "apiBaseUrl")
      assert.include(error.message, "trustedOrigins")
      assert.strictEqual(yield* tokenRequests, 0)
      assert.strictEqual(yield* apiStatus(200), 0)
    }).pipe(Effect.provide(Env({}, {}, { apiBaseUrl: Option.none() }))))

  it.effect("the origin is the one the URL parser sees, however the URL is spelled", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      const http = yield* AuthorizedHttpClient.AuthorizedHttpClient
      const origin = server.url
      const host = new URL(origin).host
      const spellings = [
        `${origin}/me`,
        `${origin}`,
        `${origin}?a=1`,
        `${origin}#top`,
        `HTTP://${host.toUpperCase()}/me`,
        `${origin}\\me`,
        `${origin}@evil.example/me`,
        `${origin}0/me`,
        `${origin}.evil.example/me`,
        `https://${host}/me`,
        `//evil.example/me`,
        `/me`
      ]
      for (const url of spellings) {
        const parsed = Option.liftThrowable(() => new URL(url))()
        const expected = Option.isNone(parsed)
          ? "InvalidUrl"
          : parsed.value.origin === origin
          ? "sent"
          : "NotTrusted"
        const outcome = yield* Effect.match(http.get(url), {
          onFailure: (error) => error._tag === "@effect-oauth/UntrustedOrigin" ? error.reason : error._tag,
          onSuccess: () => "sent"
        })
        assert.strictEqual(outcome, expected, url)
      }
    }).pipe(Effect.provide(Env())))
})

describe("AuthorizedHttpClient rate limit", () => {
  // The API requests as sent, with their times on the test clock.
  const recorded = (times: Array<number>) =>
    Layer.effect(
      HttpClient.HttpClient,
      Effect.map(HttpClient.HttpClient, (client) =>
        HttpClient.tapRequest(client, (request) =>
          request.url.includes("/token")
            ? Effect.void
            : Effect.map(Clock.currentTimeMillis, (now) =>
              void times.push(now))))
    )

  const osuClient = (server: TestServer.TestServer.Service, key?: string) =>
    AuthorizedHttpClient.layer().pipe(
      Layer.provideMerge(
        OAuthClient.layer({
          provider: server.provider(Osu.make, { name: "osu-test" }),
          client: server.client,
          session: OAuthClient.clientCredentials(Scopes.make("public")),
          key
        })
      )
    )

  it.effect("osu!: 200 requests never put more than 60 in any 60-second window, the first included", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      const times: Array<number> = []
      yield* Effect.gen(function*() {
        const http = yield* AuthorizedHttpClient.AuthorizedHttpClient
        const fibers = yield* Effect.forEach(
          Array.from({ length: 200 }),
          () => Effect.fork(http.get(server.meEndpoint)),
          { concurrency: "unbounded" }
        )
        for (let i = 0; i < 600 && times.length < 200; i++) yield* TestClock.adjust(Duration.seconds(1))
        const all = yield* Effect.forEach(fibers, Fiber.join)
        assert.isTrue(all.every((response) => response.status === 200))
      }).pipe(
        Effect.provide(osuClient(server)),
        Effect.provide(TokenStore.layerMemory),
        Effect.provide(recorded(times))
      )
      assert.strictEqual(times.length, 200)
      assert.isAtMost(Simulation.busiestWindow(times, 60_000), 60)
      // The limit is not a trickle either: 200 requests go out within 4 minutes.
      assert.isBelow(Math.max(...times) - Math.min(...times), 4 * 60_000)
    }).pipe(Effect.provide(TestServer.layerInMemory({ flavour: "osu" }))))

  it.effect("one limit for the client: two slots under one RateLimit share the 60 a minute", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      const times: Array<number> = []
      const requests = (key: string) =>
        Effect.flatMap(Layer.build(osuClient(server, key)), (context) =>
          Effect.forEach(
            Array.from({ length: 50 }),
            () => Effect.fork(Context.get(context, AuthorizedHttpClient.AuthorizedHttpClient).get(server.meEndpoint)),
            { concurrency: "unbounded" }
          ))
      yield* Effect.gen(function*() {
        const fibers = [...yield* requests("a"), ...yield* requests("b")]
        for (let i = 0; i < 300 && times.length < 100; i++) yield* TestClock.adjust(Duration.seconds(1))
        yield* Effect.forEach(fibers, Fiber.join)
      }).pipe(
        Effect.provide(RateLimit.layerMemory),
        Effect.provide(TokenStore.layerMemory),
        Effect.provide(recorded(times)),
        Effect.scoped
      )
      assert.strictEqual(times.length, 100)
      assert.isAtMost(Simulation.busiestWindow(times, 60_000), 60)
    }).pipe(Effect.provide(TestServer.layerInMemory({ flavour: "osu" }))))
})
