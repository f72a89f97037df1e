import type { OAuthError } from "@effect-oauth/core"
import { Authorization, Grant, Scopes, TokenEndpoint } from "@effect-oauth/core"
import * as Osu from "@effect-oauth/core/providers/Osu"
import { TestServer } from "@effect-oauth/testing"
import { HttpClient, HttpClientRequest } from "@effect/platform"
import { NodeHttpClient } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Option, Redacted, TestClock } from "effect"

const endpoint = (options?: { readonly post?: boolean }) =>
  Effect.flatMap(TestServer.TestServer, (server) =>
    TokenEndpoint.make({
      provider: server.provider(options?.post ? { clientAuthentication: "client_secret_post" } : {}),
      client: server.client,
      maxAttempts: 1
    }))

const counters = Effect.flatMap(TestServer.TestServer, (server) => server.counters)

const login = Effect.gen(function*() {
  const server = yield* TestServer.TestServer
  const token = yield* endpoint()
  const started = yield* Authorization.start({
    provider: server.provider(),
    client: server.client,
    redirectUri: "http://127.0.0.1:9/cb",
    scopes: Scopes.make("read")
  })
  return yield* Authorization.complete(token, started.transaction, yield* server.authorize(started.url))
})

const getMe = (accessToken: string, query = "") =>
  Effect.flatMap(
    TestServer.TestServer,
    (server) =>
      Effect.flatMap(HttpClient.HttpClient, (http) =>
        http.execute(
          HttpClientRequest.get(`${server.meEndpoint}${query}`).pipe(HttpClientRequest.bearerToken(accessToken))
        ))
  )

describe("TestServer", () => {
  it.effect("client credentials with Basic (form-encoded secret) and with post", () =>
    Effect.gen(function*() {
      yield* Effect.flatMap(endpoint(), (e) => e.request(Grant.ClientCredentials(Scopes.make("read"))))
      yield* Effect.flatMap(endpoint({ post: true }), (e) => e.request(Grant.ClientCredentials(Scopes.make("read"))))
      assert.deepStrictEqual((yield* counters).tokenRequests["client_credentials"], { ok: 2, error: 0 })
    }).pipe(Effect.provide(TestServer.layerInMemory())))

  it.effect("codes are single-use and need the right verifier", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      const token = yield* endpoint()
      const started = yield* Authorization.start({
        provider: server.provider(),
        client: server.client,
        redirectUri: "http://127.0.0.1:9/cb"
      })
      const callback = yield* server.authorize(started.url)
      yield* Authorization.complete(token, started.transaction, callback)
      const again = yield* Effect.flip(Authorization.complete(token, started.transaction, callback))
      assert.strictEqual((again as OAuthError.ErrorResponse).error, "invalid_grant")
    }).pipe(Effect.provide(TestServer.layerInMemory())))

  it.effect("rotation with reuse detection revokes the whole grant", () =>
    Effect.gen(function*() {
      const token = yield* login
      const e = yield* endpoint()
      const first = Option.getOrThrow(token.refreshToken)
      const rotated = yield* e.request(Grant.RefreshToken(first), { previous: token })
      // Reusing the spent refresh token...
      const reuse = yield* Effect.flip(e.request(Grant.RefreshToken(first)))
      assert.strictEqual((reuse as OAuthError.ErrorResponse).error, "invalid_grant")
      // ...revokes the token that descended from it.
      const denied = yield* Effect.flip(e.request(Grant.RefreshToken(Option.getOrThrow(rotated.refreshToken))))
      assert.strictEqual((denied as OAuthError.ErrorResponse).error, "invalid_grant")
      assert.strictEqual((yield* getMe(Redacted.value(rotated.accessToken))).status, 401)
      assert.strictEqual((yield* counters).invalidGrant, 2)
    }).pipe(Effect.provide(TestServer.layerInMemory())))

  it.effect("osu! flavour: a revoked refresh token is a 401 invalid_request, which the preset reads as invalid_grant", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      const token = yield* login
      yield* server.revokeAll()
      const osu = yield* TokenEndpoint.make({
        provider: Osu.make({ tokenEndpoint: server.tokenEndpoint }),
        client: server.client
      })
      const error = yield* Effect.flip(osu.request(Grant.RefreshToken(Option.getOrThrow(token.refreshToken))))
      assert.strictEqual((error as OAuthError.ErrorResponse).error, "invalid_grant")
      const response = yield* getMe(Redacted.value(token.accessToken))
      assert.strictEqual(response.status, 401)
      assert.deepStrictEqual(yield* response.json, { authentication: "basic" })
      assert.isUndefined(response.headers["www-authenticate"])
    }).pipe(Effect.provide(TestServer.layerInMemory({ flavour: "osu" }))))

  it.effect("Spotify flavour: a refresh omits refresh_token", () =>
    Effect.gen(function*() {
      const token = yield* login
      const e = yield* endpoint()
      const next = yield* e.request(Grant.RefreshToken(Option.getOrThrow(token.refreshToken)))
      assert.isTrue(Option.isNone(next.refreshToken))
    }).pipe(Effect.provide(TestServer.layerInMemory({ flavour: "spotify" }))))

  it.effect("/me checks the bearer token, its lifetime and the scope a route needs", () =>
    Effect.gen(function*() {
      const token = yield* login
      const access = Redacted.value(token.accessToken)
      assert.strictEqual((yield* getMe(access)).status, 200)
      const forbidden = yield* getMe(access, "?scope=admin")
      assert.strictEqual(forbidden.status, 403)
      assert.include(forbidden.headers["www-authenticate"] ?? "", "insufficient_scope")
      assert.strictEqual((yield* getMe("nonsense")).status, 401)
      yield* TestClock.adjust(Duration.hours(2))
      assert.strictEqual((yield* getMe(access)).status, 401)
      assert.deepStrictEqual((yield* counters).resourceRequests, { "200": 1, "403": 1, "401": 2 })
    }).pipe(Effect.provide(TestServer.layerInMemory())))

  it.effect("faults apply once, in order", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      const e = yield* endpoint()
      yield* server.injectFaults([{ status: 418, body: "teapot", headers: { "content-type": "text/plain" } }])
      const error = yield* Effect.flip(e.request(Grant.ClientCredentials(Scopes.make())))
      assert.strictEqual((error as OAuthError.InvalidTokenResponse).status, 418)
      yield* e.request(Grant.ClientCredentials(Scopes.make()))
    }).pipe(Effect.provide(TestServer.layerInMemory())))

  it.effect("resetSecret makes client authentication fail with invalid_client", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      yield* server.resetSecret()
      const error = yield* Effect.flip(
        Effect.flatMap(endpoint(), (e) => e.request(Grant.ClientCredentials(Scopes.make())))
      )
      assert.strictEqual(error._tag, "ClientAuthenticationFailed")
    }).pipe(Effect.provide(TestServer.layerInMemory())))

  it.effect("device authorization: pending, slow_down, then a token once approved", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      const e = yield* endpoint()
      const device = yield* e.postForm(server.deviceAuthorizationEndpoint, [["scope", "read"]])
      const deviceCode = Redacted.make(String(device.device_code))
      const poll = Effect.flip(e.request(Grant.DeviceCode(deviceCode)))
      assert.strictEqual(((yield* poll) as OAuthError.ErrorResponse).error, "authorization_pending")
      assert.strictEqual(((yield* poll) as OAuthError.ErrorResponse).error, "slow_down")
      yield* server.approveDevice(String(device.user_code))
      yield* TestClock.adjust(Duration.seconds(11))
      const token = yield* e.request(Grant.DeviceCode(deviceCode))
      assert.strictEqual(Scopes.format(token.scopes), "read")
    }).pipe(Effect.provide(TestServer.layerInMemory())))

  it.effect("serves RFC 8414 metadata and RFC 7009 revocation", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      const token = yield* login
      const e = yield* endpoint()
      const metadata = yield* e.getJson(`${server.url}/.well-known/oauth-authorization-server`)
      assert.strictEqual(metadata.issuer, server.issuer)
      yield* e.revoke(Option.getOrThrow(token.refreshToken), { hint: "refresh_token" })
      assert.strictEqual((yield* getMe(Redacted.value(token.accessToken))).status, 401)
      assert.strictEqual((yield* counters).revocations, 1)
    }).pipe(Effect.provide(TestServer.layerInMemory())))

  it.live("listens on 127.0.0.1 and serves the same server over real sockets", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+$/)
      const token = yield* login
      assert.strictEqual((yield* getMe(Redacted.value(token.accessToken))).status, 200)
      yield* server.injectFaults([{ dropConnection: true }])
      const error = yield* Effect.flip(
        Effect.flatMap(endpoint(), (e) => e.request(Grant.ClientCredentials(Scopes.make())))
      )
      assert.strictEqual(error._tag, "TransportError")
    }).pipe(Effect.provide([TestServer.layer(), NodeHttpClient.layerUndici])))
})
