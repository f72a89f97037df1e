import { Provider, Scopes, Token, TokenResponse } from "@effect-oauth/core"
import { assert, describe, it } from "@effect/vitest"
import { Duration, Either, FastCheck as fc, Option, Redacted, Schema } from "effect"

const provider = Provider.make({ tokenEndpoint: "https://auth.example/token" })
const withDefault = Provider.make({
  tokenEndpoint: "https://auth.example/token",
  defaultTokenLifetime: Duration.days(1)
})
const now = 1_700_000_000_000
const base = { access_token: "at-secret", token_type: "Bearer" }
const context = { provider, status: 200, now }

const invalidField = (result: Either.Either<Token.Token, unknown>) => {
  assert.isTrue(Either.isLeft(result))
  const error = Either.getLeft(result).pipe(Option.getOrThrow) as { kind: string; field?: string }
  assert.strictEqual(error.kind, "InvalidField")
  return error.field
}

const known = new Set(["access_token", "token_type", "expires_in", "refresh_token", "scope"])

describe("TokenResponse", () => {
  it.prop("expires_in as a number or a string of digits: expiresAt = now + seconds", [
    fc.integer({ min: 0, max: 10 * 365 * 86400 }),
    fc.boolean()
  ], ([seconds, quoted]) => {
    const token = Either.getOrThrow(
      TokenResponse.toToken({ ...base, expires_in: quoted ? String(seconds) : seconds }, context)
    )
    assert.deepStrictEqual(token.expiresAt, Option.some(now + seconds * 1000))
    assert.strictEqual(token.issuedAt, now)
  })

  it.prop(
    "expires_in that is not a non-negative number or a string of digits is rejected",
    [
      fc.oneof(
        fc.string().filter((s) => !/^\d+$/.test(s)),
        fc.double({ max: -Number.MIN_VALUE }),
        fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, true, false, [], {})
      )
    ],
    ([expiresIn]) => {
      assert.strictEqual(invalidField(TokenResponse.toToken({ ...base, expires_in: expiresIn }, context)), "expires_in")
    }
  )

  it.prop("token_type bearer in any case is accepted, anything else rejected", [
    fc.array(fc.boolean(), { minLength: 6, maxLength: 6 }),
    fc.string().filter((s) => s.toLowerCase() !== "bearer")
  ], ([upper, other]) => {
    const cased = [..."bearer"].map((c, i) => upper[i] ? c.toUpperCase() : c).join("")
    assert.strictEqual(
      Either.getOrThrow(TokenResponse.toToken({ ...base, token_type: cased }, context)).tokenType,
      "Bearer"
    )
    assert.strictEqual(invalidField(TokenResponse.toToken({ ...base, token_type: other }, context)), "token_type")
  })

  it.prop("unknown members are ignored", [
    fc.dictionary(fc.string().filter((key) => !known.has(key) && key !== "__proto__"), fc.jsonValue())
  ], ([extra]) => {
    const token = Either.getOrThrow(TokenResponse.toToken({ ...extra, ...base }, context))
    assert.strictEqual(Redacted.value(token.accessToken), "at-secret")
  })

  it("each malformed field is named; access_token is checked first", () => {
    assert.strictEqual(invalidField(TokenResponse.toToken({}, context)), "access_token")
    assert.strictEqual(invalidField(TokenResponse.toToken({ ...base, access_token: "" }, context)), "access_token")
    assert.strictEqual(invalidField(TokenResponse.toToken({ ...base, access_token: null }, context)), "access_token")
    assert.strictEqual(invalidField(TokenResponse.toToken({ access_token: "x" }, context)), "token_type")
    assert.strictEqual(invalidField(TokenResponse.toToken({ ...base, token_type: "mac" }, context)), "token_type")
    for (const refreshToken of [null, "", 7, {}]) {
      assert.strictEqual(
        invalidField(TokenResponse.toToken({ ...base, refresh_token: refreshToken }, context)),
        "refresh_token"
      )
    }
    assert.strictEqual(invalidField(TokenResponse.toToken({ ...base, scope: 42 }, context)), "scope")
    assert.strictEqual(invalidField(TokenResponse.toToken({ ...base, scope: "a\\b" }, context)), "scope")
  })

  it("an error never quotes the offending value", () => {
    const result = TokenResponse.toToken({ access_token: { nested: "leaked-secret" }, token_type: "Bearer" }, context)
    const error = Option.getOrThrow(Either.getLeft(result))
    assert.notInclude(error.message, "leaked-secret")
    assert.notInclude(JSON.stringify(error), "leaked-secret")
  })

  it("expires_in 0 is already expired; absent uses the provider's default, else none", () => {
    const zero = Either.getOrThrow(TokenResponse.toToken({ ...base, expires_in: 0 }, context))
    assert.isTrue(Token.isExpired(zero, now))
    const defaulted = Either.getOrThrow(TokenResponse.toToken(base, { ...context, provider: withDefault }))
    assert.deepStrictEqual(defaulted.expiresAt, Option.some(now + 86_400_000))
    const nulled = Either.getOrThrow(TokenResponse.toToken({ ...base, expires_in: null }, context))
    assert.isTrue(Option.isNone(nulled.expiresAt))
  })

  it("a huge expires_in stays a finite date", () => {
    const token = Either.getOrThrow(TokenResponse.toToken({ ...base, expires_in: 1e300 }, context))
    assert.isTrue(Number.isFinite(Option.getOrThrow(token.expiresAt)))
    assert.isTrue(Option.getOrThrow(token.expiresAt) > now + 10 * 365 * 86_400_000)
  })

  it("scope: the granted set when present, else the requested set, else the previous token's", () => {
    const requested = Scopes.make("a", "b")
    const granted = Either.getOrThrow(TokenResponse.toToken({ ...base, scope: "a" }, { ...context, requested }))
    assert.strictEqual(Scopes.format(granted.scopes), "a")
    const asked = Either.getOrThrow(TokenResponse.toToken(base, { ...context, requested }))
    assert.strictEqual(Scopes.format(asked.scopes), "a b")
    const refreshed = Either.getOrThrow(TokenResponse.toToken(base, { ...context, previous: asked }))
    assert.strictEqual(Scopes.format(refreshed.scopes), "a b")
  })

  it("a refresh keeps the previous refresh token when none is sent, and counts the version", () => {
    const first = Either.getOrThrow(TokenResponse.toToken({ ...base, refresh_token: "rt-1" }, context))
    assert.strictEqual(first.version, 0)
    const second = Either.getOrThrow(TokenResponse.toToken(base, { ...context, previous: first }))
    assert.strictEqual(Redacted.value(Option.getOrThrow(second.refreshToken)), "rt-1")
    assert.strictEqual(second.version, 1)
    const third = Either.getOrThrow(
      TokenResponse.toToken({ ...base, refresh_token: "rt-2" }, { ...context, previous: second })
    )
    assert.strictEqual(Redacted.value(Option.getOrThrow(third.refreshToken)), "rt-2")
    assert.strictEqual(third.version, 2)
  })

  it("the wire schema decodes a quoted expires_in and encodes it back", () => {
    const decoded = Schema.decodeUnknownSync(TokenResponse.TokenResponse)({ ...base, expires_in: "3600", x: 1 })
    assert.strictEqual(decoded.expires_in, 3600)
    assert.isFalse("x" in decoded)
    assert.isTrue(Either.isLeft(TokenResponse.parseExpiresIn("3600abc")))
    assert.deepStrictEqual(TokenResponse.parseExpiresIn(undefined), Either.right(Option.none()))
  })
})
