/**
 * What every platform's HTTP-client layer must do for effect-oauth, as a suite that each platform
 * package runs against its own layer: reach a real loopback server, and never follow a redirect
 * from the token endpoint.
 */
import type { OAuthError } from "@effect-oauth/core"
import { Grant, Scopes, TokenEndpoint } from "@effect-oauth/core"
import { TestServer } from "@effect-oauth/testing"
import type { HttpClient } from "@effect/platform"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Redacted } from "effect"

const endpoint = Effect.flatMap(
  TestServer.TestServer,
  (server) => TokenEndpoint.make({ provider: server.provider(), client: server.client, maxAttempts: 1 })
)

/** Registers the suite for one HTTP-client layer. */
export const httpClientLayerContract = (name: string, httpClient: Layer.Layer<HttpClient.HttpClient>) =>
  describe(name, () => {
    const env = Layer.merge(TestServer.layer(), httpClient)

    it.live("fetches a token from a real loopback server", () =>
      Effect.gen(function*() {
        const token = yield* Effect.flatMap(endpoint, (e) => e.request(Grant.ClientCredentials(Scopes.make("read"))))
        assert.isAbove(Redacted.value(token.accessToken).length, 20)
      }).pipe(Effect.provide(env)))

    it.live("does not follow a redirect from the token endpoint", () =>
      Effect.gen(function*() {
        const server = yield* TestServer.TestServer
        yield* server.injectFaults([{ redirectTo: server.meEndpoint }])
        const error = yield* Effect.flip(
          Effect.flatMap(endpoint, (e) => e.request(Grant.ClientCredentials(Scopes.make())))
        )
        assert.strictEqual((error as OAuthError.TokenRequestError).kind, "Redirect")
        assert.deepStrictEqual((yield* server.counters).resourceRequests, {})
      }).pipe(Effect.provide(env)))
  })
