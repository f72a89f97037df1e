import { IdToken, OAuthError, UserInfo } from "@effect-oauth/core"
import { HttpClientError, HttpClientRequest } from "@effect/platform"
import { assert, describe, it } from "@effect/vitest"
import { Cause, Data, Effect, Schema } from "effect"

type Class = "fatal" | "transient" | "neither"

/**
 * One error of every reason of every class, with what a caller should do with it: spelled out for
 * the classes whose reasons differ, one verdict for all the reasons of the others. A reason added
 * to a class without a row here fails the coverage test below; a row whose verdict the
 * refinements disagree with fails the classification test.
 */
const table: ReadonlyArray<readonly [OAuthError.OAuthError, Class]> = [
  [new OAuthError.TokenRequestError({ reason: "ErrorResponse", error: "invalid_grant", status: 400 }), "fatal"],
  [new OAuthError.TokenRequestError({ reason: "ClientAuthentication", error: "invalid_client", status: 401 }), "fatal"],
  [new OAuthError.TokenRequestError({ reason: "Transport", kind: "Network", detail: "reset" }), "transient"],
  [new OAuthError.TokenRequestError({ reason: "Transport", kind: "Timeout", detail: "no answer" }), "transient"],
  [new OAuthError.TokenRequestError({ reason: "Transport", kind: "Deadline", detail: "no token" }), "transient"],
  [
    new OAuthError.TokenRequestError({ reason: "Transport", kind: "Network", detail: "reset", retryable: false }),
    "neither"
  ],
  [new OAuthError.TokenRequestError({ reason: "Transient", status: 503 }), "transient"],
  [new OAuthError.TokenRequestError({ reason: "RateLimited", status: 429, retryAfterMillis: 2000 }), "transient"],
  [new OAuthError.TokenRequestError({ reason: "InvalidResponse", kind: "NotJson", status: 200 }), "neither"],
  ...OAuthError.AuthorizationError.fields.reason.literals.map((reason) =>
    [new OAuthError.AuthorizationError({ reason }), "fatal"] as const
  ),
  [new OAuthError.ScopeError({ reason: "Insufficient", required: ["write"], granted: ["read"] }), "fatal"],
  [new OAuthError.ScopeError({ reason: "BreaksRule", rule: "exclusive", grant: "ClientCredentials" }), "fatal"],
  [new OAuthError.ScopeError({ reason: "Malformed", scope: "a b" }), "fatal"],
  ...OAuthError.UntrustedOrigin.fields.reason.literals.map((reason) =>
    [new OAuthError.UntrustedOrigin({ reason, origin: "https://elsewhere.example", trusted: [] }), "fatal"] as const
  ),
  ...OAuthError.ReauthorizationRequired.fields.reason.literals.map((reason) =>
    [new OAuthError.ReauthorizationRequired({ reason, detail: "sign in" }), "fatal"] as const
  ),
  ...OAuthError.ConfigurationError.fields.reason.literals.map((reason) =>
    [new OAuthError.ConfigurationError({ reason, detail: "fix it" }), "fatal"] as const
  ),
  ...OAuthError.StoreError.fields.reason.literals.map((reason) =>
    [new OAuthError.StoreError({ reason, detail: "disk full" }), "neither"] as const
  ),
  ...IdToken.Check.literals.map((reason) =>
    [new IdToken.IdTokenError({ reason, detail: "refused" }), "fatal"] as const
  ),
  ...UserInfo.UserInfoError.fields.reason.literals.map((reason) =>
    [new UserInfo.UserInfoError({ reason, detail: "refused" }), "fatal"] as const
  )
]

/** Every class of the family, with the reasons its schema allows. */
const classes = [
  OAuthError.TokenRequestError,
  OAuthError.AuthorizationError,
  OAuthError.ScopeError,
  OAuthError.UntrustedOrigin,
  OAuthError.ReauthorizationRequired,
  OAuthError.ConfigurationError,
  OAuthError.StoreError,
  IdToken.IdTokenError,
  UserInfo.UserInfoError
] as const

const reasonsOf = (schema: (typeof classes)[number]): ReadonlyArray<string> => {
  const field = schema.fields.reason
  return Schema.isSchema(field) && "literals" in field ? (field.literals as ReadonlyArray<string>) : []
}

describe("OAuthError", () => {
  it("every reason of every class has a row in the table", () => {
    for (const schema of classes) {
      const reasons = reasonsOf(schema)
      assert.isAbove(reasons.length, 0, schema._tag)
      const covered = new Set<string>(
        table.filter(([error]) => error._tag === schema._tag).map(([error]) => error.reason)
      )
      assert.deepStrictEqual([...reasons].filter((reason) => !covered.has(reason)), [], schema._tag)
    }
  })

  it("isFatal and isTransient classify every reason as the table says", () => {
    for (const [error, expected] of table) {
      const actual: Class = OAuthError.isFatal(error)
        ? "fatal"
        : OAuthError.isTransient(error)
        ? "transient"
        : "neither"
      assert.strictEqual(actual, expected, `${error._tag} ${error.reason}`)
      assert.isFalse(OAuthError.isFatal(error) && OAuthError.isTransient(error), "fatal and transient at once")
    }
  })

  it("isOAuthError is true of every error of the family, and of nothing else", () => {
    for (const [error] of table) {
      assert.isTrue(OAuthError.isOAuthError(error), error._tag)
      assert.strictEqual(error[OAuthError.TypeId], OAuthError.TypeId)
    }
    class Elsewhere extends Data.TaggedError("TokenRequestError")<{ readonly reason: "Transport" }> {}
    const others: ReadonlyArray<unknown> = [
      new Elsewhere({ reason: "Transport" }),
      new HttpClientError.RequestError({ request: HttpClientRequest.get("https://a.example"), reason: "Transport" }),
      new Error("boom"),
      { _tag: "@effect-oauth/TokenRequestError", reason: "Transport" },
      undefined,
      "TokenRequestError"
    ]
    for (const other of others) {
      assert.isFalse(OAuthError.isOAuthError(other))
      assert.isFalse(OAuthError.isFatal(other))
      assert.isFalse(OAuthError.isTransient(other))
    }
  })

  it("every tag is under the library's namespace, and is the schema identifier too", () => {
    for (const schema of classes) {
      assert.match(schema._tag, /^@effect-oauth\/[A-Z]\w+$/)
      assert.strictEqual(schema.identifier, schema._tag)
    }
  })

  it("every message is a sentence built from the fields, with no hole in it", () => {
    for (const [error] of table) {
      assert.isAbove(error.message.length, 30, `${error._tag} ${error.reason}`)
      assert.notInclude(error.message, "undefined", `${error._tag} ${error.reason}`)
      assert.notInclude(error.message, "{", `${error._tag} ${error.reason}`)
    }
    const limited = new OAuthError.TokenRequestError({ reason: "RateLimited", status: 429, retryAfterMillis: 2500 })
    assert.include(limited.message, "wait for 3 s")
    const scope = new OAuthError.ScopeError({ reason: "Insufficient", required: ["read", "write"], granted: ["read"] })
    assert.include(scope.message, "(missing write)")
  })

  it.effect("an error survives an encode and decode through its schema, and is yielded as a failure", () =>
    Effect.gen(function*() {
      const error = new OAuthError.TokenRequestError({ reason: "RateLimited", status: 429, retryAfterMillis: 1000 })
      const encoded = yield* Schema.encode(OAuthError.TokenRequestError)(error)
      const decoded = yield* Schema.decodeUnknown(OAuthError.TokenRequestError)(encoded)
      assert.isTrue(OAuthError.isTransient(decoded))
      assert.strictEqual(decoded.retryAfterMillis, 1000)
      assert.strictEqual(yield* Effect.flip(error), error)
      assert.include(Cause.pretty(Cause.fail(error)), "@effect-oauth/TokenRequestError")
    }))

  it.effect("catchTag takes the namespaced tag", () =>
    Effect.gen(function*() {
      const recovered = yield* Effect.fail(new OAuthError.ReauthorizationRequired({ reason: "NoToken", detail: "x" }))
        .pipe(Effect.catchTag("@effect-oauth/ReauthorizationRequired", (error) => Effect.succeed(error.reason)))
      assert.strictEqual(recovered, "NoToken")
    }))
})
