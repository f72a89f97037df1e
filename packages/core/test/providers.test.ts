import { Authorization, OAuthError, ScopeRules, Scopes, TokenEndpoint } from "@effect-oauth/core"
import * as Osu from "@effect-oauth/core/providers/Osu"
import * as Spotify from "@effect-oauth/core/providers/Spotify"
import { TestServer } from "@effect-oauth/testing"
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Either, Logger, Option, Redacted } from "effect"

describe("providers/Osu", () => {
  it("reads a refused refresh token (401 invalid_request) as invalid_grant", () => {
    assert.deepStrictEqual(
      Osu.classifyError(401, {
        error: "invalid_request",
        error_description: "The refresh token is invalid.",
        hint: "Token has been revoked",
        message: "The refresh token is invalid."
      }),
      Option.some({ error: "invalid_grant", description: "The refresh token is invalid." })
    )
    // osu! sometimes carries the sentence only in `message` or `hint`.
    assert.deepStrictEqual(
      Osu.classifyError(401, { error: "invalid_request", message: "The refresh token is invalid." }),
      Option.some({ error: "invalid_grant", description: "The refresh token is invalid." })
    )
    assert.deepStrictEqual(
      Osu.classifyError(401, { error: "invalid_request", hint: "The refresh token is invalid." }),
      Option.some({ error: "invalid_grant", description: "The refresh token is invalid." })
    )
  })

  it("reads a sentence in `error` on a 400 as invalid_scope", () => {
    assert.deepStrictEqual(
      Osu.classifyError(400, { error: "delegate scope is only available for client_credentials" }),
      Option.some({ error: "invalid_scope", description: "delegate scope is only available for client_credentials" })
    )
  })

  it("leaves standard and unrelated bodies to the standard reading", () => {
    assert.isTrue(Option.isNone(Osu.classifyError(400, { error: "invalid_grant" })))
    assert.isTrue(Option.isNone(Osu.classifyError(401, { error: "invalid_client" })))
    assert.isTrue(Option.isNone(Osu.classifyError(400, { error: "invalid_request", message: "Missing code." })))
    assert.isTrue(Option.isNone(Osu.classifyError(401, { authentication: "basic" })))
    assert.isTrue(Option.isNone(Osu.classifyError(500, { error: "Something broke." })))
    assert.isTrue(Option.isNone(Osu.classifyError(400, { error: 42 })))
  })

  it("has osu!'s facts", () => {
    const p = Osu.provider
    assert.strictEqual(p.name, "osu")
    assert.deepStrictEqual(p.issuer, Option.some("https://osu.ppy.sh"))
    assert.deepStrictEqual(p.authorizationEndpoint, Option.some("https://osu.ppy.sh/oauth/authorize"))
    assert.strictEqual(p.tokenEndpoint, "https://osu.ppy.sh/oauth/token")
    assert.deepStrictEqual(p.apiBaseUrl, Option.some("https://osu.ppy.sh/api/v2"))
    assert.isTrue(Option.isNone(p.revocationEndpoint))
    assert.strictEqual(p.clientAuthentication, "client_secret_post")
    assert.deepStrictEqual(Option.map(p.defaultTokenLifetime, Duration.toSeconds), Option.some(86400))
    assert.deepStrictEqual(Option.map(p.rateLimit, (r) => r.limit), Option.some(60))
    assert.deepStrictEqual(Option.map(p.rateLimit, (r) => Duration.toMinutes(r.interval)), Option.some(1))
    assert.strictEqual(p.scopeRules, Osu.rules)
    assert.deepStrictEqual(p.scopes, Osu.scopes)
    assert.strictEqual(p.scopes.length, 12)
    assert.strictEqual(Osu.currentTokenRevocationUrl, "https://osu.ppy.sh/api/v2/oauth/tokens/current")
    assert.isTrue(Osu.requiresRegisteredRedirectPort)
    assert.isTrue(
      Option.isSome(p.classifyError(401, { error: "invalid_request", hint: "The refresh token is invalid." }))
    )
  })

  it("make overrides endpoints and keeps osu!'s rules", () => {
    const p = Osu.make({
      name: "osu-test",
      tokenEndpoint: "http://127.0.0.1:1/token",
      authorizationEndpoint: "http://127.0.0.1:1/authorize",
      apiBaseUrl: "http://127.0.0.1:1/api",
      revocationEndpoint: "http://127.0.0.1:1/revoke",
      allowInsecureHttp: true
    })
    assert.strictEqual(p.name, "osu-test")
    assert.strictEqual(p.tokenEndpoint, "http://127.0.0.1:1/token")
    assert.deepStrictEqual(p.authorizationEndpoint, Option.some("http://127.0.0.1:1/authorize"))
    assert.deepStrictEqual(p.apiBaseUrl, Option.some("http://127.0.0.1:1/api"))
    assert.deepStrictEqual(p.revocationEndpoint, Option.some("http://127.0.0.1:1/revoke"))
    assert.isTrue(p.allowInsecureHttp)
    assert.isFalse(Osu.provider.allowInsecureHttp)
    assert.strictEqual(p.scopeRules, Osu.rules)
    assert.strictEqual(p.clientAuthentication, "client_secret_post")
    // An override given as undefined keeps the preset's value.
    assert.strictEqual(Osu.make({ tokenEndpoint: undefined }).tokenEndpoint, "https://osu.ppy.sh/oauth/token")
  })

  it("the provider's rules are the ones validate applies", () => {
    const result = ScopeRules.validate(Osu.provider.scopeRules, "ClientCredentials", Scopes.make("*"))
    assert.isTrue(Either.isLeft(result))
    if (Either.isLeft(result)) {
      assert.instanceOf(result.left, OAuthError.ScopeError)
      assert.strictEqual(result.left.rule, "osu.client-credentials-no-star")
    }
  })
})

describe("providers/Spotify", () => {
  it("has Spotify's facts", () => {
    const p = Spotify.provider
    assert.strictEqual(p.name, "spotify")
    assert.deepStrictEqual(p.issuer, Option.some("https://accounts.spotify.com"))
    assert.deepStrictEqual(p.authorizationEndpoint, Option.some("https://accounts.spotify.com/authorize"))
    assert.strictEqual(p.tokenEndpoint, "https://accounts.spotify.com/api/token")
    assert.deepStrictEqual(p.apiBaseUrl, Option.some("https://api.spotify.com/v1"))
    assert.strictEqual(p.clientAuthentication, "client_secret_basic")
    assert.deepStrictEqual(Option.map(p.defaultTokenLifetime, Duration.toSeconds), Option.some(3600))
    assert.strictEqual(p.scopes.length, 19)
    assert.strictEqual(new Set(p.scopes).size, 19)
    assert.strictEqual(p.scopeRules, Spotify.rules)
    assert.strictEqual(Spotify.make({ tokenEndpoint: "http://127.0.0.1:1/t" }).tokenEndpoint, "http://127.0.0.1:1/t")
  })

  it("allows https and literal loopback redirect URIs, not localhost", () => {
    assert.isTrue(Spotify.isAllowedRedirectUri("https://example.com/cb"))
    assert.isTrue(Spotify.isAllowedRedirectUri("http://127.0.0.1:8080/cb"))
    assert.isTrue(Spotify.isAllowedRedirectUri("http://[::1]:8080/cb"))
    assert.isFalse(Spotify.isAllowedRedirectUri("http://localhost:8080/cb"))
    assert.isFalse(Spotify.isAllowedRedirectUri("https://localhost/cb"))
    assert.isFalse(Spotify.isAllowedRedirectUri("http://example.com/cb"))
    assert.isFalse(Spotify.isAllowedRedirectUri("http://127.0.0.2/cb"))
    assert.isFalse(Spotify.isAllowedRedirectUri("ftp://127.0.0.1/cb"))
    assert.isFalse(Spotify.isAllowedRedirectUri("not a url"))
  })
})

describe("presets and RFC 9207 iss", () => {
  const presets = [
    { name: "osu!", make: Osu.make, flavour: "osu", issuer: "https://osu.ppy.sh" },
    { name: "Spotify", make: Spotify.make, flavour: "spotify", issuer: "https://accounts.spotify.com" }
  ] as const

  for (const preset of presets) {
    it.effect(`an iss from ${preset.name} is checked against its issuer, not refused`, () =>
      Effect.gen(function*() {
        const server = yield* TestServer.TestServer
        // The preset's own issuer, with the test server standing in for its endpoints.
        const provider = preset.make({
          authorizationEndpoint: server.authorizationEndpoint,
          tokenEndpoint: server.tokenEndpoint
        })
        const endpoint = yield* TokenEndpoint.make({ provider, client: server.client })
        const withIss = (url: string, iss: string) => {
          const parsed = new URL(url)
          parsed.searchParams.set("iss", iss)
          return parsed.toString()
        }
        const exchanges = Effect.map(server.counters, (c) => TestServer.tokenRequests(c, "authorization_code"))
        const start = Authorization.start({ provider, client: server.client, redirectUri: "http://127.0.0.1:9/cb" })

        const forged = yield* start
        const refused = yield* Effect.flip(
          Authorization.complete(endpoint, forged.transaction, withIss(yield* server.authorize(forged.url), server.url))
        )
        assert.strictEqual(
          refused._tag === "@effect-oauth/AuthorizationError" ? refused.reason : refused._tag,
          "IssuerMismatch"
        )
        assert.deepStrictEqual(yield* exchanges, { ok: 0, error: 0 })

        const login = yield* start
        const callbackUrl = withIss(yield* server.authorize(login.url), preset.issuer)
        yield* Authorization.complete(endpoint, login.transaction, callbackUrl)
        assert.deepStrictEqual(yield* exchanges, { ok: 1, error: 0 })
      }).pipe(Effect.provide(TestServer.layerInMemory({ flavour: preset.flavour }))))
  }
})

describe("a provider without a revocation endpoint", () => {
  it.effect("revoke sends nothing to the server and says so in a warning", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      // Spotify has no RFC 7009 endpoint; the test server stands in for its token endpoint.
      const provider = Spotify.make({ tokenEndpoint: server.tokenEndpoint })
      assert.isTrue(Option.isNone(provider.revocationEndpoint))
      const endpoint = yield* TokenEndpoint.make({ provider, client: server.client })
      const issued = yield* server.issueToken()
      const logs: Array<{ readonly level: string; readonly message: string }> = []
      const logger = Logger.make(({ logLevel, message }) =>
        logs.push({ level: logLevel.label, message: (Array.isArray(message) ? message : [message]).join(" ") })
      )
      yield* endpoint.revoke(Redacted.make(issued.accessToken)).pipe(
        Effect.provide(Logger.replace(Logger.defaultLogger, logger))
      )
      assert.strictEqual((yield* server.counters).revocations, 0)
      assert.strictEqual(logs.length, 1)
      assert.strictEqual(logs[0]!.level, "WARN")
      assert.include(logs[0]!.message, "spotify has no revocation endpoint: nothing was sent")
      assert.notInclude(logs[0]!.message, issued.accessToken)
    }).pipe(Effect.provide(TestServer.layerInMemory({ flavour: "spotify" }))))
})
