import { Authorization, Grant, OAuthClient, Scopes, TokenEndpoint, TokenStore } from "@effect-oauth/core"
import { TestServer } from "@effect-oauth/testing"
import { HttpClient } from "@effect/platform"
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Layer, Redacted, TestClock } from "effect"

// The server with an in-process HttpClient (no sockets, so TestClock drives every lifetime), and a token store.
const Env = (options?: TestServer.Options) => Layer.mergeAll(TestServer.layerInMemory(options), TokenStore.layerMemory)

describe("my API client", () => {
  it.scoped("gets a token, calls the API, and refreshes before expiry", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      const client = yield* OAuthClient.make({
        provider: server.provider(),
        client: server.client,
        session: OAuthClient.clientCredentials(Scopes.make("read"))
      })
      const token = yield* client.token

      // The protected resource checks the bearer token and its scopes.
      const me = yield* HttpClient.get(server.meEndpoint, {
        headers: { authorization: `Bearer ${Redacted.value(token.accessToken)}` }
      })
      assert.strictEqual(me.status, 200)

      // Token lifetimes follow Effect's Clock, so TestClock moves the server's time too.
      yield* TestClock.adjust(Duration.hours(1))
      const counters = yield* server.counters
      assert.strictEqual(counters.tokenRequests.client_credentials.ok, 2)
      assert.deepStrictEqual(counters.meRequests, { "200": 1 })
    }).pipe(Effect.provide(Env())))

  it.effect("signs a user in with PKCE, then sees a 503 as a typed error", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      const endpoint = yield* TokenEndpoint.make({ provider: server.provider(), client: server.client, maxAttempts: 1 })
      const login = yield* Authorization.start({
        provider: server.provider(),
        client: server.client,
        redirectUri: "http://127.0.0.1:8765/callback",
        scopes: Scopes.make("read", "write")
      })
      // `authorize` plays the user's browser and returns the callback URL (code + state).
      const callbackUrl = yield* server.authorize(login.url)
      const token = yield* Authorization.complete(endpoint, login.transaction, callbackUrl)
      assert.strictEqual(Scopes.format(token.scopes), "read write")

      // The next token request answers 503 with an HTML body, once.
      yield* server.injectFaults([{ status: 503, body: "<h1>down</h1>", headers: { "content-type": "text/html" } }])
      const error = yield* Effect.flip(endpoint.request(Grant.ClientCredentials(Scopes.make("read"))))
      assert.strictEqual(error.reason, "Transient")
    }).pipe(Effect.provide(Env())))
})
