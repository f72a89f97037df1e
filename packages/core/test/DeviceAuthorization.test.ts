import { DeviceAuthorization, OAuthError, Provider, Scopes, TokenEndpoint } from "@effect-oauth/core"
import { TestServer } from "@effect-oauth/testing"
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Either, Fiber, Option, Redacted, TestClock } from "effect"

const scopes = Scopes.make("read")

const endpointFor = (provider?: (server: TestServer.TestServer.Service) => Provider.Provider) =>
  Effect.flatMap(
    TestServer.TestServer,
    (server) => TokenEndpoint.make({ provider: provider ? provider(server) : server.provider(), client: server.client })
  )

const deviceCounts = Effect.map(
  Effect.flatMap(TestServer.TestServer, (server) => server.counters),
  (counters) => counters.tokenRequests["urn:ietf:params:oauth:grant-type:device_code"]
)

describe("DeviceAuthorization", () => {
  it.effect("start returns the codes to show; the device code stays redacted", () =>
    Effect.gen(function*() {
      const endpoint = yield* endpointFor()
      const started = yield* DeviceAuthorization.start(endpoint, { scopes })
      assert.match(started.userCode, /^[A-Z]{4}-[A-Z]{4}$/)
      assert.isTrue(started.verificationUri.endsWith("/device"))
      assert.isTrue(Option.isSome(started.verificationUriComplete))
      assert.deepStrictEqual(started.interval, Duration.seconds(5))
      assert.strictEqual(String(started.deviceCode), "<redacted>")
      assert.isAbove(Redacted.value(started.deviceCode).length, 10)
    }).pipe(Effect.provide(TestServer.layerInMemory())))

  it.effect("pending keeps the interval; after approval the token arrives on the next poll", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      const endpoint = yield* endpointFor()
      const started = yield* DeviceAuthorization.start(endpoint, { scopes })
      const fiber = yield* Effect.fork(DeviceAuthorization.poll(endpoint, started))
      yield* TestClock.adjust(Duration.seconds(4))
      assert.strictEqual((yield* deviceCounts).error, 0, "nothing is sent before the interval")
      yield* TestClock.adjust(Duration.seconds(1))
      assert.strictEqual((yield* deviceCounts).error, 1, "the first poll: authorization_pending")
      yield* TestClock.adjust(Duration.seconds(5))
      assert.strictEqual((yield* deviceCounts).error, 2, "the interval is kept")
      assert.isTrue(yield* server.approveDevice(started.userCode))
      yield* TestClock.adjust(Duration.seconds(5))
      const token = yield* Fiber.join(fiber)
      assert.deepStrictEqual(token.scopes.values, ["read"])
      assert.strictEqual((yield* deviceCounts).ok, 1)
    }).pipe(Effect.provide(TestServer.layerInMemory())))

  it.effect("slow_down adds five seconds to the interval for good", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      const endpoint = yield* endpointFor()
      const started = yield* DeviceAuthorization.start(endpoint, { scopes })
      yield* server.injectFaults([{ path: "/token", status: 400, body: JSON.stringify({ error: "slow_down" }) }])
      const fiber = yield* Effect.fork(DeviceAuthorization.poll(endpoint, started))
      yield* TestClock.adjust(Duration.seconds(5)) // poll 1: slow_down
      assert.strictEqual((yield* server.counters).faults, 1)
      yield* TestClock.adjust(Duration.seconds(9))
      assert.strictEqual((yield* deviceCounts).error, 0, "the next poll waits 5 + 5 = 10 s")
      yield* TestClock.adjust(Duration.seconds(1)) // poll 2: authorization_pending
      assert.strictEqual((yield* deviceCounts).error, 1)
      yield* server.approveDevice(started.userCode)
      yield* TestClock.adjust(Duration.seconds(9))
      assert.isTrue(Option.isNone(yield* Fiber.poll(fiber)), "10 s between polls, for good")
      yield* TestClock.adjust(Duration.seconds(1))
      const token = yield* Fiber.join(fiber)
      assert.isTrue(Redacted.value(token.accessToken).length > 0)
    }).pipe(Effect.provide(TestServer.layerInMemory())))

  it.effect("a denial stops polling with a typed Denied error", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      const endpoint = yield* endpointFor()
      const started = yield* DeviceAuthorization.start(endpoint, { scopes })
      const fiber = yield* Effect.fork(Effect.flip(DeviceAuthorization.poll(endpoint, started)))
      yield* server.denyDevice(started.userCode)
      yield* TestClock.adjust(Duration.seconds(5))
      const error = yield* Fiber.join(fiber)
      assert.strictEqual(error._tag, "@effect-oauth/AuthorizationError")
      if (error._tag === "@effect-oauth/AuthorizationError") assert.strictEqual(error.reason, "Denied")
      yield* TestClock.adjust(Duration.seconds(60))
      assert.strictEqual((yield* deviceCounts).error, 1, "no poll after the denial")
    }).pipe(Effect.provide(TestServer.layerInMemory())))

  it.effect("polling stops at expires_in with a Timeout, sending nothing after it", () =>
    Effect.gen(function*() {
      const endpoint = yield* endpointFor()
      const started = yield* DeviceAuthorization.start(endpoint, { scopes })
      const fiber = yield* Effect.fork(Effect.flip(DeviceAuthorization.poll(endpoint, started)))
      yield* TestClock.adjust(Duration.seconds(30))
      const error = yield* Fiber.join(fiber)
      assert.strictEqual(error._tag, "@effect-oauth/AuthorizationError")
      if (error._tag === "@effect-oauth/AuthorizationError") assert.strictEqual(error.reason, "Timeout")
      // 30 s lifetime, 5 s interval: polls at 5, 10, 15, 20 and no later.
      assert.strictEqual((yield* deviceCounts).error, 5)
    }).pipe(Effect.provide(TestServer.layerInMemory({ deviceCodeLifetimeSeconds: 30 }))))

  it.effect("an error other than pending or slow_down stops polling and is returned", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      const endpoint = yield* endpointFor()
      const started = yield* DeviceAuthorization.start(endpoint, { scopes })
      yield* server.injectFaults([{
        path: "/token",
        status: 400,
        body: JSON.stringify({ error: "invalid_grant", error_description: "gone" })
      }])
      const fiber = yield* Effect.fork(Effect.flip(DeviceAuthorization.poll(endpoint, started)))
      yield* TestClock.adjust(Duration.seconds(5))
      const error = yield* Fiber.join(fiber)
      assert.strictEqual(error.reason, "ErrorResponse")
    }).pipe(Effect.provide(TestServer.layerInMemory())))

  it.effect("a dropped connection doubles the interval", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      const endpoint = yield* endpointFor()
      const started = yield* DeviceAuthorization.start(endpoint, { scopes })
      yield* server.injectFaults([{ path: "/token", dropConnection: true }])
      const fiber = yield* Effect.fork(DeviceAuthorization.poll(endpoint, started))
      yield* TestClock.adjust(Duration.seconds(5)) // poll 1: dropped
      yield* server.approveDevice(started.userCode)
      yield* TestClock.adjust(Duration.seconds(9))
      assert.isTrue(Option.isNone(yield* Fiber.poll(fiber)), "the next poll waits 10 s")
      yield* TestClock.adjust(Duration.seconds(1))
      yield* Fiber.join(fiber)
    }).pipe(Effect.provide(TestServer.layerInMemory())))

  it.effect("a provider without a device endpoint, or a scope its rules refuse, sends nothing", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      const noDevice = yield* endpointFor((s) => Provider.make({ tokenEndpoint: s.tokenEndpoint }))
      const error = yield* Effect.flip(DeviceAuthorization.start(noDevice))
      assert.strictEqual(error._tag, "@effect-oauth/ConfigurationError")
      const strict = yield* endpointFor((s) =>
        s.provider({ scopeRules: { known: ["read"], grants: {}, constraints: [] } })
      )
      const refused = yield* Effect.flip(DeviceAuthorization.start(strict, { scopes: Scopes.make("admin") }))
      assert.strictEqual(refused._tag, "@effect-oauth/ScopeError")
      assert.strictEqual((yield* server.counters).deviceAuthorizationRequests, 0)
    }).pipe(Effect.provide(TestServer.layerInMemory())))

  it.effect("sends through the endpoint's own HTTP client: a copy of an endpoint does, a hand-made one cannot", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      const real = yield* endpointFor()
      // What a test or a wrapper does to an endpoint: the copy keeps what `make` gave it.
      const copy: TokenEndpoint.TokenEndpoint = { ...real, request: (grant, options) => real.request(grant, options) }
      const started = yield* DeviceAuthorization.start(copy, { scopes })
      assert.match(started.userCode, /^[A-Z]{4}-[A-Z]{4}$/)
      const handMade: TokenEndpoint.TokenEndpoint = {
        provider: real.provider,
        client: real.client,
        request: real.request,
        revoke: real.revoke
      }
      const error = yield* Effect.flip(DeviceAuthorization.start(handMade, { scopes }))
      assert.strictEqual(error._tag, "@effect-oauth/ConfigurationError")
      assert.strictEqual(error.reason, "InvalidOption")
      assert.include(error.message, "TokenEndpoint.make")
      assert.strictEqual((yield* server.counters).deviceAuthorizationRequests, 1)
    }).pipe(Effect.provide(TestServer.layerInMemory())))

  /**
   * A real device authorization, whose answer the server then sends again with `interval` as given
   * (left out when undefined): the device code is the server's, so polls are answered for real.
   */
  const startWithInterval = (interval: number | undefined) =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      const endpoint = yield* endpointFor()
      const real = yield* DeviceAuthorization.start(endpoint, { scopes })
      yield* server.injectFaults([{
        path: "/device/code",
        status: 200,
        body: JSON.stringify({
          device_code: Redacted.value(real.deviceCode),
          user_code: real.userCode,
          verification_uri: real.verificationUri,
          expires_in: 600,
          ...(interval === undefined ? {} : { interval })
        })
      }])
      return { endpoint, started: yield* DeviceAuthorization.start(endpoint, { scopes }) }
    })

  it.effect("without an interval from the server, polls come every 5 seconds (RFC 8628 §3.2)", () =>
    Effect.gen(function*() {
      const { endpoint, started } = yield* startWithInterval(undefined)
      assert.deepStrictEqual(started.interval, Duration.seconds(5))
      const fiber = yield* Effect.fork(DeviceAuthorization.poll(endpoint, started))
      yield* TestClock.adjust(Duration.millis(4999))
      assert.strictEqual((yield* deviceCounts).error, 0)
      yield* TestClock.adjust(Duration.millis(1))
      assert.strictEqual((yield* deviceCounts).error, 1)
      yield* TestClock.adjust(Duration.millis(4999))
      assert.strictEqual((yield* deviceCounts).error, 1)
      yield* TestClock.adjust(Duration.millis(1))
      assert.strictEqual((yield* deviceCounts).error, 2)
      yield* Fiber.interrupt(fiber)
    }).pipe(Effect.provide(TestServer.layerInMemory())))

  // The server's own limit (0.5 s) answers a second poll within it with slow_down: polls stay
  // bounded even if the client's floor were gone, so these tests fail rather than spin.
  for (const seconds of [0, 0.2, -3]) {
    it.effect(`an interval of ${seconds} s from the server is polled every second, never faster`, () =>
      Effect.gen(function*() {
        const { endpoint, started } = yield* startWithInterval(seconds)
        assert.deepStrictEqual(started.interval, Duration.seconds(1))
        const fiber = yield* Effect.fork(DeviceAuthorization.poll(endpoint, started))
        yield* TestClock.adjust(Duration.millis(999))
        assert.strictEqual((yield* deviceCounts).error, 0)
        yield* TestClock.adjust(Duration.millis(1))
        assert.strictEqual((yield* deviceCounts).error, 1)
        yield* TestClock.adjust(Duration.seconds(3))
        assert.strictEqual((yield* deviceCounts).error, 4)
        yield* Fiber.interrupt(fiber)
      }).pipe(Effect.provide(TestServer.layerInMemory({ deviceCodeIntervalSeconds: 0.5 }))))
  }

  it.effect("poll keeps to one second even for a Started built with a shorter interval", () =>
    Effect.gen(function*() {
      const endpoint = yield* endpointFor()
      const started = yield* DeviceAuthorization.start(endpoint, { scopes })
      const fiber = yield* Effect.fork(DeviceAuthorization.poll(endpoint, { ...started, interval: Duration.zero }))
      yield* TestClock.adjust(Duration.millis(999))
      assert.strictEqual((yield* deviceCounts).error, 0)
      yield* TestClock.adjust(Duration.seconds(2))
      assert.strictEqual((yield* deviceCounts).error, 2)
      yield* Fiber.interrupt(fiber)
    }).pipe(Effect.provide(TestServer.layerInMemory({ deviceCodeIntervalSeconds: 0.5 }))))

  describe("verification URIs", () => {
    /** Starts a device authorization whose answer carries these verification URIs. */
    const startWith = (
      uris: Record<string, string>,
      provider?: (s: TestServer.TestServer.Service) => Provider.Provider
    ) =>
      Effect.gen(function*() {
        const server = yield* TestServer.TestServer
        const endpoint = yield* endpointFor(provider)
        yield* server.injectFaults([{
          path: "/device/code",
          status: 200,
          body: JSON.stringify({ device_code: "device-code-1", user_code: "ABCD-EFGH", expires_in: 600, ...uris })
        }])
        return yield* Effect.either(DeviceAuthorization.start(endpoint, { scopes }))
      })

    const refusedField = (result: Either.Either<DeviceAuthorization.Started, unknown>) =>
      Either.isLeft(result) && result.left instanceof OAuthError.TokenRequestError ? result.left.field : "accepted"

    it.effect("one that is not https (or http on loopback) is refused, naming the field", () =>
      Effect.gen(function*() {
        for (
          const uri of [
            "http://evil.example/device",
            "javascript:alert(1)",
            "data:text/html,<h1>sign in</h1>",
            "file:///etc/passwd",
            "not a url"
          ]
        ) {
          assert.strictEqual(refusedField(yield* startWith({ verification_uri: uri })), "verification_uri", uri)
          assert.strictEqual(refusedField(yield* startWith({ verification_url: uri })), "verification_uri", uri)
          assert.strictEqual(
            refusedField(
              yield* startWith({ verification_uri: "https://id.example/device", verification_uri_complete: uri })
            ),
            "verification_uri_complete",
            uri
          )
        }
        const refused = yield* startWith({ verification_uri: "http://evil.example/device" })
        assert.isTrue(Either.isLeft(refused) && refused.left.message.includes("not https"))
        assert.strictEqual((yield* deviceCounts).error + (yield* deviceCounts).ok, 0, "nothing is polled")
      }).pipe(Effect.provide(TestServer.layerInMemory())))

    it.effect("https, loopback http, and http with allowInsecureHttp are accepted", () =>
      Effect.gen(function*() {
        for (const uri of ["https://id.example/device", "http://127.0.0.1:8080/device", "http://[::1]/device"]) {
          const result = yield* startWith({ verification_uri: uri, verification_uri_complete: `${uri}?code=1` })
          assert.strictEqual(refusedField(result), "accepted", uri)
          if (Either.isRight(result)) assert.strictEqual(result.right.verificationUri, uri)
        }
        const insecure = yield* startWith(
          { verification_uri: "http://id.example/device" },
          (s) => s.provider({ allowInsecureHttp: true })
        )
        assert.strictEqual(refusedField(insecure), "accepted")
      }).pipe(Effect.provide(TestServer.layerInMemory())))
  })

  it.effect("authorize shows the codes, then polls", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      const endpoint = yield* endpointFor()
      const shown: Array<string> = []
      const fiber = yield* Effect.fork(DeviceAuthorization.authorize(endpoint, {
        scopes,
        prompt: (started) =>
          Effect.zipRight(
            Effect.sync(() => shown.push(started.userCode)),
            server.approveDevice(started.userCode)
          )
      }))
      yield* TestClock.adjust(Duration.seconds(5))
      yield* Fiber.join(fiber)
      assert.strictEqual(shown.length, 1)
    }).pipe(Effect.provide(TestServer.layerInMemory())))
})
