import { Discovery } from "@effect-oauth/core"
import { TestServer } from "@effect-oauth/testing"
import { HttpClient, HttpClientResponse } from "@effect/platform"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Option } from "effect"

const serving = (documents: Record<string, unknown>) => {
  const asked: Array<string> = []
  const client = HttpClient.make((request) =>
    Effect.sync(() => {
      asked.push(request.url)
      const doc = documents[request.url]
      return HttpClientResponse.fromWeb(
        request,
        doc === undefined
          ? new Response("not found", { status: 404 })
          : new Response(JSON.stringify(doc), { headers: { "content-type": "application/json" } })
      )
    })
  )
  return { client, asked }
}

const metadata = (issuer: string) => ({
  issuer,
  token_endpoint: `${issuer}/token`,
  authorization_endpoint: `${issuer}/authorize`,
  token_endpoint_auth_methods_supported: ["client_secret_post"],
  authorization_response_iss_parameter_supported: true
})

describe("Discovery", () => {
  it.effect("reads RFC 8414 metadata from the test server", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      const provider = yield* Discovery.discover(server.issuer)
      assert.strictEqual(provider.tokenEndpoint, server.tokenEndpoint)
      assert.deepStrictEqual(provider.revocationEndpoint, Option.some(server.revocationEndpoint))
      assert.deepStrictEqual(provider.issuer, Option.some(server.issuer))
      assert.strictEqual(provider.clientAuthentication, "client_secret_basic")
    }).pipe(Effect.provide(TestServer.layerInMemory())))

  it.effect("falls back to OpenID metadata, and reads the auth method and iss support", () =>
    Effect.gen(function*() {
      const issuer = "https://id.example"
      const { asked, client } = serving({ [`${issuer}/.well-known/openid-configuration`]: metadata(issuer) })
      const provider = yield* Discovery.discover(issuer).pipe(Effect.provideService(HttpClient.HttpClient, client))
      assert.strictEqual(provider.clientAuthentication, "client_secret_post")
      assert.isTrue(provider.authorizationResponseIssParameterSupported)
      assert.deepStrictEqual(asked, [
        `${issuer}/.well-known/oauth-authorization-server`,
        `${issuer}/.well-known/openid-configuration`
      ])
    }))

  it("inserts the well-known path before an issuer's path (RFC 8414 §3.1)", () => {
    assert.deepStrictEqual(Discovery.metadataUrls("https://auth.example/tenant/one"), [
      "https://auth.example/.well-known/oauth-authorization-server/tenant/one",
      "https://auth.example/tenant/one/.well-known/openid-configuration"
    ])
  })

  it.effect("refuses metadata whose issuer differs from the one asked", () =>
    Effect.gen(function*() {
      const issuer = "https://id.example"
      const { client } = serving({
        [`${issuer}/.well-known/oauth-authorization-server`]: metadata("https://evil.example")
      })
      const error = yield* Effect.flip(
        Discovery.discover(issuer).pipe(Effect.provideService(HttpClient.HttpClient, client))
      )
      assert.strictEqual(error._tag, "InvalidConfiguration")
      assert.include(error.message, "evil.example")
    }))

  it.effect("refuses http endpoints that are not loopback", () =>
    Effect.gen(function*() {
      const issuer = "https://id.example"
      const { client } = serving({
        [`${issuer}/.well-known/oauth-authorization-server`]: {
          ...metadata(issuer),
          token_endpoint: "http://id.example/token"
        }
      })
      const error = yield* Effect.flip(
        Discovery.discover(issuer).pipe(Effect.provideService(HttpClient.HttpClient, client))
      )
      assert.strictEqual(error._tag, "InvalidConfiguration")
      const insecure = yield* Effect.flip(
        Discovery.discover("http://id.example").pipe(Effect.provideService(HttpClient.HttpClient, client))
      )
      assert.strictEqual(insecure._tag, "InvalidConfiguration")
    }))

  it.effect("says so when no metadata can be found", () =>
    Effect.gen(function*() {
      const { client } = serving({})
      const error = yield* Effect.flip(
        Discovery.discover("https://none.example").pipe(Effect.provideService(HttpClient.HttpClient, client))
      )
      assert.strictEqual(error._tag, "InvalidConfiguration")
    }))
})
