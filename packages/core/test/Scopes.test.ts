import { OAuthError, Scopes } from "@effect-oauth/core"
import { assert, describe, it } from "@effect/vitest"
import { Either, Equal, FastCheck as fc, Hash, Schema } from "effect"

const token = fc.stringMatching(/^[\x21\x23-\x5B\x5D-\x7E]{1,12}$/)
const scopeSet = fc.array(token, { maxLength: 8 }).map((tokens) => Scopes.make(...tokens))

describe("Scopes", () => {
  it.prop("parse(format(s)) equals s", [scopeSet], ([s]) => {
    const parsed = Scopes.parse(Scopes.format(s))
    return Either.isRight(parsed) && Equal.equals(parsed.right, s)
  })

  it.prop(
    "union and intersection are commutative, associative and idempotent",
    [scopeSet, scopeSet, scopeSet],
    ([a, b, c]) =>
      Equal.equals(Scopes.union(a, b), Scopes.union(b, a)) &&
      Equal.equals(Scopes.intersection(a, b), Scopes.intersection(b, a)) &&
      Equal.equals(Scopes.union(Scopes.union(a, b), c), Scopes.union(a, Scopes.union(b, c))) &&
      Equal.equals(
        Scopes.intersection(Scopes.intersection(a, b), c),
        Scopes.intersection(a, Scopes.intersection(b, c))
      ) &&
      Equal.equals(Scopes.union(a, a), a) &&
      Equal.equals(Scopes.intersection(a, a), a)
  )

  it.prop(
    "difference and intersection agree with isSubset",
    [scopeSet, scopeSet],
    ([a, b]) =>
      (Scopes.difference(a, b).size === 0) === Scopes.isSubset(a, b) &&
      Equal.equals(Scopes.intersection(a, b), a) === Scopes.isSubset(a, b) &&
      Scopes.isSubset(a, Scopes.union(a, b))
  )

  // RFC 6749 §3.3, written out character by character: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
  const grammatical = (t: string) =>
    t.length > 0 &&
    [...t].every((ch) => {
      const c = ch.codePointAt(0)!
      return c === 0x21 || (c >= 0x23 && c <= 0x5b) || (c >= 0x5d && c <= 0x7e)
    })

  it("parse accepts and refuses the grammar's edge characters", () => {
    for (
      const ok of [
        "!",
        "#",
        "[",
        "]",
        "~",
        "a",
        "user:read",
        "a b",
        "chat.write  public",
        "x!#$%&'()*+,-./09:;<=>?@AZ[]^_`az{|}~"
      ]
    ) {
      assert.isTrue(Either.isRight(Scopes.parse(ok)), ok)
    }
    for (const bad of ["\"", "\\", "\u00e9", "\t", "a\u007f", "\u0000", "a\nb", "\u{1F600}", "ok \u00a0"]) {
      const result = Scopes.parse(bad)
      assert.isTrue(Either.isLeft(result) && result.left instanceof OAuthError.ScopeError, JSON.stringify(bad))
    }
  })

  it.prop("parse accepts exactly space-separated grammatical tokens", [fc.string({ unit: "binary" })], ([input]) => {
    const result = Scopes.parse(input)
    const tokens = input.split(" ").filter((t) => t.length > 0)
    return tokens.every(grammatical)
      ? Either.isRight(result) && Scopes.format(result.right) === [...new Set(tokens)].sort().join(" ")
      : Either.isLeft(result) && result.left instanceof OAuthError.ScopeError
  })

  it.prop("a set parsed from grammatical tokens holds exactly them", [fc.array(
    fc.array(fc.constantFrom(..."!#$%&'()*+,-./0123456789:;<=>?@ABZ[]^_`abz{|}~"), { minLength: 1, maxLength: 6 })
      .map((chars) => chars.join("")),
    { maxLength: 6 }
  )], ([tokens]) => {
    const result = Scopes.parse(tokens.join(" "))
    return Either.isRight(result) && tokens.every((t) => Scopes.has(result.right, t)) &&
      result.right.size === new Set(tokens).size
  })

  it.prop("a token with a character outside the grammar is refused", [
    token,
    fc.constantFrom("\"", "\\", "\t", "\n", "\u00e9", "\u0000", "\u007f", "\u{1F600}"),
    token
  ], ([before, bad, after]) => Either.isLeft(Scopes.parse(`ok ${before}${bad}${after}`)))

  it.prop("sets with the same members are Equal and hash alike, whatever the order", [scopeSet], ([s]) => {
    const reversed = Scopes.make(...[...s.values].reverse(), ...s.values)
    return Equal.equals(reversed, s) && Hash.hash(reversed) === Hash.hash(s) && reversed.size === s.size
  })

  it.prop("the wire-form schema round-trips", [scopeSet], ([s]) => {
    const encoded = Schema.encodeSync(Scopes.ScopeSetFromString)(s)
    return encoded === Scopes.format(s) && Equal.equals(Schema.decodeSync(Scopes.ScopeSetFromString)(encoded), s)
  })

  it("rejects tokens outside the RFC 6749 grammar with a typed error", () => {
    for (const bad of ["a\"b", "a\\b", "a\tb", "café", "a\u0000"]) {
      const result = Scopes.parse(bad)
      assert.isTrue(Either.isLeft(result), bad)
      if (Either.isLeft(result)) assert.instanceOf(result.left, OAuthError.ScopeError)
    }
  })

  it("formats sorted and without duplicates; tolerates runs of spaces", () => {
    const set = Either.getOrThrow(Scopes.parse("  identify public  identify "))
    assert.strictEqual(Scopes.format(set), "identify public")
    assert.isTrue(Scopes.has(set, "public"))
    assert.isFalse(Scopes.has(set, "delegate"))
    assert.isTrue(set.pipe(Scopes.has("identify")))
    assert.strictEqual(String(set), "ScopeSet(identify public)")
    assert.strictEqual(Hash.hash(set), Hash.hash(Scopes.make("public", "identify")))
    assert.isTrue(Equal.equals(set, Scopes.make("public", "identify")))
    assert.isFalse(Equal.equals(set, Scopes.make("public")))
    assert.isFalse(Equal.equals(set, Scopes.make("public", "identify", "delegate")))
    assert.strictEqual(String(Scopes.empty), "ScopeSet()")
    assert.strictEqual(Scopes.format(Scopes.empty), "")
    assert.isTrue(Either.isRight(Scopes.parse("")))
  })

  it("has a schema for the wire form", () => {
    const decoded = Schema.decodeUnknownSync(Scopes.ScopeSetFromString)("b a")
    assert.isTrue(Equal.equals(decoded, Scopes.make("a", "b")))
    assert.strictEqual(Schema.encodeSync(Scopes.ScopeSetFromString)(decoded), "a b")
    assert.isTrue(Either.isLeft(Schema.decodeUnknownEither(Scopes.ScopeSetFromString)("a\"b")))
    assert.isTrue(Either.isLeft(Schema.decodeUnknownEither(Scopes.ScopeSetFromString)(42)))
    assert.isTrue(Either.isLeft(Schema.decodeUnknownEither(Scopes.ScopeSetFromString)("a\tb")))
  })
})
