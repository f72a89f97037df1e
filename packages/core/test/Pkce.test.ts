import { Pkce } from "@effect-oauth/core"
import { assert, describe, it } from "@effect/vitest"
import { Effect, FastCheck as fc, Redacted } from "effect"
import { createHash } from "node:crypto"
import { base64Url, randomString } from "../src/internal/crypto.js"

const unreserved = /^[A-Za-z0-9\-._~]+$/
// RFC 7636 §4.1: the characters a code verifier may hold, and its length bounds.
const verifierPattern = /^[A-Za-z0-9\-._~]{43,128}$/
const verifierArb = fc.stringMatching(verifierPattern)

describe("Pkce", () => {
  it.effect("matches the RFC 7636 Appendix B test vector", () =>
    Effect.gen(function*() {
      const challenge = yield* Pkce.challenge(Redacted.make("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"))
      assert.strictEqual(challenge, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")
    }))

  it.effect.prop(
    "the challenge is BASE64URL(SHA256(verifier)) without padding",
    [verifierArb],
    ([verifier]) =>
      Effect.gen(function*() {
        const challenge = yield* Pkce.challenge(Redacted.make(verifier))
        assert.strictEqual(challenge, createHash("sha256").update(verifier, "ascii").digest("base64url"))
        assert.strictEqual(challenge.length, 43)
        assert.match(challenge, /^[A-Za-z0-9_-]{43}$/)
      })
  )

  it.effect("verifiers are 43 characters of the unreserved set, within RFC 7636's 43–128", () =>
    Effect.gen(function*() {
      for (let i = 0; i < 200; i++) {
        const value = Redacted.value(yield* Pkce.verifier)
        assert.strictEqual(value.length, 43)
        assert.match(value, unreserved)
        assert.match(value, verifierPattern)
      }
    }))

  it.effect("each run makes a new pair, whose challenge is the verifier's and whose method is S256", () =>
    Effect.gen(function*() {
      const verifiers = new Set<string>()
      const challenges = new Set<string>()
      for (let i = 0; i < 200; i++) {
        const pair = yield* Pkce.make
        assert.strictEqual(pair.method, "S256")
        assert.strictEqual(pair.challenge, yield* Pkce.challenge(pair.verifier))
        verifiers.add(Redacted.value(pair.verifier))
        challenges.add(pair.challenge)
      }
      assert.strictEqual(verifiers.size, 200)
      assert.strictEqual(challenges.size, 200)
    }))

  it.effect("verifiers carry about 256 bits: every base64url character shows up across draws", () =>
    Effect.gen(function*() {
      // 43 characters × 300 draws: a source of less than 6 bits per character would miss some of the 64.
      const seen = new Set<string>()
      for (let i = 0; i < 300; i++) for (const char of Redacted.value(yield* Pkce.verifier)) seen.add(char)
      assert.strictEqual(seen.size, 64)
    }))

  it.effect("the verifier stays redacted when printed or serialized", () =>
    Effect.gen(function*() {
      const pair = yield* Pkce.make
      const value = Redacted.value(pair.verifier)
      assert.notInclude(String(pair.verifier), value)
      assert.notInclude(JSON.stringify(pair), value)
    }))

  it("base64Url encodes without padding and with the URL-safe alphabet", () => {
    assert.strictEqual(base64Url(new Uint8Array([0xfb, 0xff, 0xfe])), "-__-")
    assert.strictEqual(base64Url(new Uint8Array([0x66])), "Zg")
    assert.strictEqual(base64Url(new Uint8Array([])), "")
  })

  it.effect("randomString gives 4 characters per 3 bytes, unpadded", () =>
    Effect.gen(function*() {
      assert.strictEqual((yield* randomString(32)).length, 43)
      assert.strictEqual((yield* randomString(16)).length, 22)
      assert.strictEqual((yield* randomString(48)).length, 64)
    }))
})
