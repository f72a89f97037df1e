import type { OAuthError } from "@effect-oauth/core"
import { Grant, Scopes, TokenEndpoint } from "@effect-oauth/core"
import { NodeOAuth } from "@effect-oauth/platform-node"
import { TestServer } from "@effect-oauth/testing"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Redacted } from "effect"

const endpoint = Effect.flatMap(
  TestServer.TestServer,
  (server) => TokenEndpoint.make({ provider: server.provider(), client: server.client, maxAttempts: 1 })
)

describe("NodeOAuth.layerHttpClient", () => {
  it.live("fetches a token from a real loopback server", () =>
    Effect.gen(function*() {
      const token = yield* Effect.flatMap(endpoint, (e) => e.request(Grant.ClientCredentials(Scopes.make("read"))))
      assert.isAbove(Redacted.value(token.accessToken).length, 20)
    }).pipe(Effect.provide(Layer.merge(TestServer.layer(), NodeOAuth.layerHttpClient))))

  it.live("does not follow a redirect from the token endpoint", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      yield* server.injectFaults([{ redirectTo: server.meEndpoint }])
      const error = yield* Effect.flip(
        Effect.flatMap(endpoint, (e) => e.request(Grant.ClientCredentials(Scopes.make())))
      )
      assert.strictEqual((error as OAuthError.InvalidTokenResponse).reason, "Redirect")
      assert.deepStrictEqual((yield* server.counters).resourceRequests, {})
    }).pipe(Effect.provide(Layer.merge(TestServer.layer(), NodeOAuth.layerHttpClient))))
})
