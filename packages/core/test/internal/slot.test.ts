import { OAuthError, Scopes, Token } from "@effect-oauth/core"
import * as Slot from "@effect-oauth/core/internal/slot"
import { assert, describe, it } from "@effect/vitest"
import { Option, Redacted } from "effect"

const timing: Slot.Timing = {
  maxLeadMillis: 60_000,
  minRefreshIntervalMillis: 500,
  maxWaitMillis: 10_000,
  coolDownMillis: 60_000,
  maxCoolDownMillis: 3_600_000
}

const token = (issuedAt: number, lifetime: number | undefined, version = 0) =>
  new Token.Token({
    accessToken: Redacted.make("a"),
    tokenType: "Bearer",
    refreshToken: Option.none(),
    expiresAt: lifetime === undefined ? Option.none() : Option.some(issuedAt + lifetime),
    issuedAt,
    scopes: Scopes.make(),
    version
  })

const holding = (t: Token.Token, patch: Partial<Slot.State> = {}): Slot.State => ({
  ...Slot.initial(Option.some(t)),
  ...patch
})

const fatal = new OAuthError.TokenRequestError({ reason: "ClientAuthentication", status: 401 })
const rateLimited = (millis: number) =>
  new OAuthError.TokenRequestError({ reason: "RateLimited", status: 429, retryAfterMillis: millis })

describe("slot state machine", () => {
  it("the lead is 10% of the lifetime, or twice the recent request duration, at most 60 s and half the lifetime", () => {
    assert.strictEqual(Slot.leadMillis(3_600_000, 0, timing), 60_000)
    assert.strictEqual(Slot.leadMillis(2_000, 0, timing), 200)
    assert.strictEqual(Slot.leadMillis(2_000, 300, timing), 600)
    assert.strictEqual(Slot.leadMillis(2_000, 800, timing), 1_000)
    assert.strictEqual(Slot.leadMillis(3_600_000, 45_000, timing), 60_000)
  })

  it("the recent duration is the slowest of the last four requests", () => {
    let state = holding(token(0, 2_000))
    for (const d of [900, 100, 100, 100]) state = Slot.succeeded(state, token(0, 2_000), 0, d)
    assert.strictEqual(Slot.recentDuration(state), 900)
    state = Slot.succeeded(state, token(0, 2_000), 0, 100)
    assert.strictEqual(Slot.recentDuration(state), 100)
  })

  it("refreshAt: lead plus jitter before expiry, never before half the lifetime, the minimum interval or a cool-down", () => {
    const t = token(0, 10_000)
    assert.strictEqual(Option.getOrThrow(Slot.refreshAt(holding(t), 0, 0, timing)), 9_000)
    assert.strictEqual(Option.getOrThrow(Slot.refreshAt(holding(t), 0, 0.999, timing)), 8_501)
    // A slow endpoint pushes the lead to half the lifetime, never beyond.
    const slow = holding(t, { recentDurations: [4_000] })
    assert.strictEqual(Option.getOrThrow(Slot.refreshAt(slow, 0, 0.5, timing)), 5_000)
    assert.strictEqual(Option.getOrThrow(Slot.refreshAt(holding(t, { lastRefreshAt: 8_800 }), 0, 0, timing)), 9_300)
    assert.strictEqual(Option.getOrThrow(Slot.refreshAt(holding(t, { coolUntil: 20_000 }), 0, 0, timing)), 20_000)
    assert.isTrue(Option.isNone(Slot.refreshAt(holding(token(0, undefined)), 0, 0, timing)))
    assert.isTrue(Option.isNone(Slot.refreshAt(Slot.initial(Option.none()), 0, 0, timing)))
  })

  it("admit: a kept failure fails until its retry time; a cool-down waits within the budget, else fails at once", () => {
    const t = token(0, 1_000)
    assert.deepStrictEqual(Slot.admit(holding(t), 5_000, timing, rateLimited), { _tag: "Fetch" })
    const kept = holding(t, { failure: Option.some({ error: fatal, retryAt: 70_000, strikes: 1 }) })
    assert.strictEqual(Slot.admit(kept, 69_999, timing, rateLimited)._tag, "Fail")
    assert.strictEqual(Slot.admit(kept, 70_000, timing, rateLimited)._tag, "Fetch")
    const cooling = holding(t, { coolUntil: 30_000 })
    assert.deepStrictEqual(Slot.admit(cooling, 25_000, timing, rateLimited), { _tag: "Wait", until: 30_000 })
    const far = Slot.admit(cooling, 15_000, timing, rateLimited)
    assert.strictEqual(far._tag, "Fail")
    assert.strictEqual(far._tag === "Fail" && far.error.reason === "RateLimited" && far.error.retryAfterMillis, 15_000)
  })

  it("a client-credentials slot's cool-down doubles from 1 minute up to 1 hour; a user slot's failure is kept", () => {
    let state = holding(token(0, 1_000))
    const retryAts: Array<number> = []
    for (let i = 0; i < 8; i++) {
      state = Slot.failed(state, { _tag: "ClientFatal", error: fatal }, 0, 10, timing)
      retryAts.push(Option.getOrThrow(state.failure).retryAt)
    }
    assert.deepStrictEqual(retryAts, [60_000, 120_000, 240_000, 480_000, 960_000, 1_920_000, 3_600_000, 3_600_000])
    assert.strictEqual(Option.getOrThrow(Slot.retryAt(state, 0, 0)), 3_600_000)
    const user = Slot.failed(
      holding(token(0, 1_000)),
      { _tag: "UserFatal", error: fatal, dropToken: true },
      0,
      10,
      timing
    )
    assert.isTrue(Option.isNone(user.token))
    assert.isTrue(Option.isNone(Slot.retryAt(user, 0, 0)))
    assert.isTrue(Option.isNone(Slot.loggedIn(user, token(0, 1_000)).failure))
  })

  it("a transient failure backs off from 1 s, doubling, and never retries before Retry-After", () => {
    let state = holding(token(0, 1_000))
    state = Slot.failed(state, { _tag: "Transient", retryAfterMillis: Option.none() }, 0, 10, timing)
    assert.strictEqual(Option.getOrThrow(Slot.retryAt(state, 0, 0.5)), 1_000)
    state = Slot.failed(state, { _tag: "Transient", retryAfterMillis: Option.none() }, 0, 10, timing)
    assert.strictEqual(Option.getOrThrow(Slot.retryAt(state, 0, 0.5)), 2_000)
    state = Slot.failed(state, { _tag: "Transient", retryAfterMillis: Option.some(60_000) }, 0, 10, timing)
    assert.strictEqual(state.coolUntil, 60_000)
    assert.strictEqual(Option.getOrThrow(Slot.retryAt(state, 0, 0.5)), 60_000)
    assert.strictEqual(Slot.succeeded(state, token(0, 1_000), 1, 5).transientFailures, 0)
  })

  it("an expired token is usable only within the minimum interval after a refresh", () => {
    const t = token(0, 0)
    assert.isFalse(Slot.isUsable(holding(t), 10, timing))
    assert.isTrue(Slot.isUsable(holding(t, { lastRefreshAt: 0 }), 499, timing))
    assert.isFalse(Slot.isUsable(holding(t, { lastRefreshAt: 0 }), 500, timing))
    assert.isTrue(Slot.isUsable(holding(token(0, undefined)), 1e12, timing))
  })
})
