import type { OAuthError } from "@effect-oauth/core"
import { ScopeRules, Scopes } from "@effect-oauth/core"
import * as Osu from "@effect-oauth/core/providers/Osu"
import * as Spotify from "@effect-oauth/core/providers/Spotify"
import { assert, describe, it } from "@effect/vitest"
import { Either, Equal, FastCheck } from "effect"

const ok = (result: Either.Either<Scopes.ScopeSet<string>, OAuthError.ScopeError>) => {
  if (Either.isLeft(result)) assert.fail(result.left.message)
  return Scopes.format(Either.getOrThrow(result))
}
const rule = (result: Either.Either<Scopes.ScopeSet<string>, OAuthError.ScopeError>) => {
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

    it("* is requested alone", () => {
      assert.strictEqual(rule(code("*", "public")), "osu.star-alone")
      assert.strictEqual(rule(cc("*", "public")), "osu.star-alone")
    })

    it("public with client credentials is fine; public delegate is not", () => {
      assert.strictEqual(ok(cc("public")), "public")
      assert.strictEqual(rule(cc("public", "delegate")), "osu.delegation-only-delegable")
      assert.strictEqual(ok(cc("delegate")), "delegate")
      assert.strictEqual(
        ok(cc("delegate", "chat.write", "chat.write_manage", "forum.write", "forum.write_manage", "group_permissions")),
        "chat.write chat.write_manage delegate forum.write forum.write_manage group_permissions"
      )
    })

    it("each delegable scope needs delegate", () => {
      for (const scope of Osu.delegableScopes) {
        if (scope === "delegate") continue
        assert.strictEqual(rule(cc(scope)), "osu.delegation-requires-delegate", scope)
        assert.isTrue(Either.isRight(cc(scope, "delegate")), scope)
      }
    })

    it("the rule data keeps its literal types", () => {
      // Compile-time: these assignments type-check only while the rules are literal-typed data.
      const names: ReadonlyArray<
        | "osu.star-alone"
        | "osu.client-credentials-no-star"
        | "osu.client-credentials-only"
        | "osu.delegation-requires-delegate"
        | "osu.delegation-only-delegable"
      > = Osu.rules.constraints.map((c) => c.name)
      const implied: readonly ["identify"] = Osu.rules.grants.AuthorizationCode.implied
      const spotify: "spotify.client-credentials-no-user-scopes" = Spotify.rules.constraints[0].name
      assert.strictEqual(names.length, 5)
      assert.deepStrictEqual(implied, ["identify"])
      assert.strictEqual(spotify, "spotify.client-credentials-no-user-scopes")
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

describe("ScopeRules vocabulary", () => {
  type S = "a" | "b" | "c" | "x"
  const rules: ScopeRules.ScopeRules<S> = {
    known: ["a", "b", "c", "x"],
    grants: {
      ClientCredentials: { allowed: ["a", "b"] },
      Password: { forbidden: ["c"] },
      DeviceCode: { defaults: ["x"] }
    },
    constraints: [
      ScopeRules.requiresWhenAny({ name: "t.requires", grants: ["AuthorizationCode"], trigger: ["a"], required: "b" }),
      ScopeRules.forbidden({ name: "t.no-x-on-device", grants: ["DeviceCode"], scopes: ["x"] }),
      ScopeRules.exclusive({ name: "t.c-alone", grants: ScopeRules.allGrants, scopes: ["c"] })
    ]
  }
  const check = (grant: Parameters<typeof ScopeRules.validate>[1], ...scopes: Array<S>) =>
    ScopeRules.validate(rules, grant, Scopes.make(...scopes))

  it("a grant's allowed list", () => {
    assert.strictEqual(rule(check("ClientCredentials", "a", "c")), "grant-scope-not-allowed")
    assert.strictEqual(ok(check("ClientCredentials", "a", "b")), "a b")
  })

  it("a grant's forbidden list", () => {
    assert.strictEqual(rule(check("Password", "c")), "grant-scope-forbidden")
    assert.strictEqual(ok(check("Password", "a", "b", "x")), "a b x")
  })

  it("constraints apply only to their grants", () => {
    assert.strictEqual(rule(check("AuthorizationCode", "a")), "t.requires")
    assert.strictEqual(ok(check("AuthorizationCode", "a", "b")), "a b")
    assert.strictEqual(ok(check("Password", "a")), "a")
  })

  it("constraints see the defaults that will be sent", () => {
    assert.strictEqual(rule(check("DeviceCode")), "t.no-x-on-device")
  })

  it("an exclusive scope must be requested alone", () => {
    assert.strictEqual(rule(check("AuthorizationCode", "c", "x")), "t.c-alone")
    assert.strictEqual(ok(check("AuthorizationCode", "c")), "c")
    assert.strictEqual(ok(check("AuthorizationCode", "b", "x")), "b x")
  })

  it("constructors build plain data and keep literal types", () => {
    const onlyFor = ScopeRules.onlyForGrants({ name: "n", scopes: ["a"], grants: ["ClientCredentials"] })
    assert.deepStrictEqual(onlyFor, {
      _tag: "OnlyForGrants",
      name: "n",
      scopes: ["a"],
      grants: ["ClientCredentials"]
    })
    // Compile-time: the literals survive the constructor.
    const name: "n" = onlyFor.name
    const scope: "a" = onlyFor.scopes[0]
    assert.deepStrictEqual([name, scope], ["n", "a"])
    assert.deepStrictEqual(ScopeRules.forbidden({ name: "f", grants: ["Password"], scopes: "all" }), {
      _tag: "Forbidden",
      name: "f",
      grants: ["Password"],
      scopes: "all"
    })
    assert.deepStrictEqual(
      ScopeRules.onlyWithin({ name: "m", grants: ["ClientCredentials"], trigger: ["a"], allowed: ["a", "b"] }),
      {
        _tag: "OnlyWithin",
        name: "m",
        grants: ["ClientCredentials"],
        trigger: ["a"],
        allowed: ["a", "b"]
      }
    )
  })

  it("errors say the grant, the rule and what to do", () => {
    const result = ScopeRules.validate(Osu.rules, "ClientCredentials", Scopes.make("public", "delegate"))
    assert.isTrue(Either.isLeft(result))
    if (Either.isLeft(result)) {
      assert.strictEqual(result.left.grant, "ClientCredentials")
      assert.deepStrictEqual(result.left.requested, ["delegate", "public"])
      assert.include(result.left.detail, "remove public")
      assert.include(result.left.message, "osu.delegation-only-delegable")
    }
  })

  it.prop(
    "permissive returns any grammatical request unchanged",
    [FastCheck.array(FastCheck.stringMatching(/^[\x21\x23-\x5B\x5D-\x7E]{1,8}$/), { maxLength: 6 })],
    ([tokens]) => {
      const set = Scopes.make(...tokens)
      const result = ScopeRules.validate(ScopeRules.permissive, "ClientCredentials", set)
      return Either.isRight(result) && Equal.equals(result.right, set)
    }
  )

  it.prop(
    "narrows accepts exactly the subsets of the granted set",
    [
      FastCheck.subarray(["a", "b", "c", "d"] as const),
      FastCheck.subarray(["a", "b", "c", "d"] as const)
    ],
    ([granted, requested]) =>
      Either.isRight(ScopeRules.narrows(Scopes.make(...granted), Scopes.make(...requested))) ===
        requested.every((s) => granted.includes(s))
  )
})
