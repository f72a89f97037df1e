import type { OAuthError } from "@effect-oauth/core"
import { ScopeRules, Scopes } from "@effect-oauth/core"
import * as Osu from "@effect-oauth/core/providers/Osu"
import * as Spotify from "@effect-oauth/core/providers/Spotify"
import { assert, describe, it } from "@effect/vitest"
import { Either, Option } from "effect"

const ok = (result: Either.Either<Scopes.ScopeSet<string>, OAuthError.InvalidScopeRequest>) => {
  if (Either.isLeft(result)) assert.fail(result.left.message)
  return Scopes.format(Either.getOrThrow(result))
}
const rule = (result: Either.Either<Scopes.ScopeSet<string>, OAuthError.InvalidScopeRequest>) => {
  if (Either.isRight(result)) return assert.fail("expected the request to be refused")
  assert.isTrue(result.left.message.length > 0)
  return result.left.rule
}

describe("ScopeRules", () => {
  describe("osu!", () => {
    const cc = (...scopes: Array<Osu.OsuScope>) =>
      ScopeRules.validate(Osu.rules, "ClientCredentials", Scopes.make(...scopes))
    const code = (...scopes: Array<Osu.OsuScope>) =>
      ScopeRules.validate(Osu.rules, "AuthorizationCode", Scopes.make(...scopes))

    it("authorization code implies identify, and defaults to it", () => {
      assert.strictEqual(ok(code()), "identify")
      assert.strictEqual(ok(code("public")), "identify public")
      assert.strictEqual(ok(code("public", "friends.read", "chat.read")), "chat.read friends.read identify public")
    })

    it("client credentials needs explicit scopes", () => {
      assert.strictEqual(rule(cc()), "explicit-scopes-required")
      assert.strictEqual(ok(cc("public")), "public")
    })

    it("client credentials refuses *", () => {
      assert.strictEqual(rule(cc("*")), "osu.client-credentials-no-star")
      assert.strictEqual(ok(code("*")), "* identify")
    })

    it("delegation: a delegable scope needs delegate", () => {
      assert.strictEqual(rule(cc("chat.write")), "osu.delegation-requires-delegate")
      assert.strictEqual(ok(cc("delegate", "chat.write")), "chat.write delegate")
    })

    it("delegation: with delegate, only delegable scopes", () => {
      assert.strictEqual(rule(cc("public", "delegate")), "osu.delegation-only-delegable")
      assert.strictEqual(rule(cc("delegate", "chat.write", "chat.read")), "osu.delegation-only-delegable")
    })

    it("delegate, forum.write_manage and group_permissions are client-credentials-only", () => {
      assert.strictEqual(rule(code("delegate")), "osu.client-credentials-only")
      assert.strictEqual(rule(code("forum.write_manage")), "osu.client-credentials-only")
      assert.strictEqual(rule(code("group_permissions")), "osu.client-credentials-only")
      assert.strictEqual(ok(code("forum.write", "chat.write")), "chat.write forum.write identify")
    })

    it("refuses unknown scopes and bad tokens", () => {
      assert.strictEqual(
        rule(ScopeRules.validate(Osu.rules, "AuthorizationCode", Scopes.make("publik" as Osu.OsuScope))),
        "unknown-scope"
      )
      assert.strictEqual(
        rule(ScopeRules.validate(ScopeRules.permissive, "ClientCredentials", Scopes.make("a b"))),
        "scope-grammar"
      )
    })
  })

  it("Spotify: client credentials carries no user scopes", () => {
    assert.strictEqual(
      rule(ScopeRules.validate(Spotify.rules, "ClientCredentials", Scopes.make("user-read-email"))),
      "spotify.client-credentials-no-user-scopes"
    )
    assert.strictEqual(ok(ScopeRules.validate(Spotify.rules, "ClientCredentials", Scopes.make())), "")
    assert.strictEqual(
      ok(ScopeRules.validate(Spotify.rules, "AuthorizationCode", Scopes.make("user-read-email"))),
      "user-read-email"
    )
  })

  it("permissive accepts any grammatical scope", () => {
    assert.strictEqual(ok(ScopeRules.validate(ScopeRules.permissive, "Password", Scopes.make("x:y", "z"))), "x:y z")
  })

  it("a refresh narrows scopes and never widens them", () => {
    const granted = Scopes.make("a", "b")
    assert.isTrue(Either.isRight(ScopeRules.narrows(granted, Scopes.make("a"))))
    assert.strictEqual(rule(ScopeRules.narrows(granted, Scopes.make("a", "c"))), "refresh-cannot-widen")
  })
})

describe("providers", () => {
  it("osu! reads its own error shapes", () => {
    assert.deepStrictEqual(
      Osu.classifyError(401, {
        error: "invalid_request",
        error_description: "The refresh token is invalid.",
        hint: "Token has been revoked",
        message: "The refresh token is invalid."
      }),
      Option.some({ error: "invalid_grant", description: "The refresh token is invalid." })
    )
    assert.deepStrictEqual(
      Osu.classifyError(400, { error: "delegate scope is only available for client_credentials" }),
      Option.some({ error: "invalid_scope", description: "delegate scope is only available for client_credentials" })
    )
    assert.isTrue(Option.isNone(Osu.classifyError(400, { error: "invalid_grant" })))
  })

  it("osu! preset facts", () => {
    assert.strictEqual(Osu.provider.tokenEndpoint, "https://osu.ppy.sh/oauth/token")
    assert.strictEqual(Osu.provider.clientAuthentication, "client_secret_post")
    assert.deepStrictEqual(Option.map(Osu.provider.rateLimit, (r) => r.limit), Option.some(60))
    assert.strictEqual(
      Osu.make({ tokenEndpoint: "http://127.0.0.1:1/token" }).tokenEndpoint,
      "http://127.0.0.1:1/token"
    )
  })

  it("Spotify allows https and literal loopback redirect URIs, not localhost", () => {
    assert.isTrue(Spotify.isAllowedRedirectUri("https://example.com/cb"))
    assert.isTrue(Spotify.isAllowedRedirectUri("http://127.0.0.1:8080/cb"))
    assert.isTrue(Spotify.isAllowedRedirectUri("http://[::1]:8080/cb"))
    assert.isFalse(Spotify.isAllowedRedirectUri("http://localhost:8080/cb"))
    assert.isFalse(Spotify.isAllowedRedirectUri("http://example.com/cb"))
    assert.strictEqual(Spotify.provider.clientAuthentication, "client_secret_basic")
  })
})
