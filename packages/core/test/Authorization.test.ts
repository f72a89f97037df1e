import type { OAuthError } from "@effect-oauth/core"
import { Authorization, Pkce, Scopes, Token, TokenEndpoint } from "@effect-oauth/core"
import { TestServer } from "@effect-oauth/testing"
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Option, Redacted, TestClock } from "effect"

const redirectUri = "http://127.0.0.1:8765/callback"

/** A token endpoint over the test server that counts the requests it sends. */
const setup = (options?: TestServer.Options) =>
  Effect.gen(function*() {
    const server = yield* TestServer.TestServer
    const provider = server.provider()
    const real = yield* TokenEndpoint.make({ provider, client: server.client })
    let requests = 0
    const endpoint: TokenEndpoint.TokenEndpoint = {
      ...real,
      request: (grant, opts) => Effect.suspend(() => (requests++, real.request(grant, opts)))
    }
    const login = yield* Authorization.start({
      provider,
      client: server.client,
      redirectUri,
      scopes: Scopes.make("read")
    })
    return { server, provider, endpoint, login, requests: () => requests }
  }).pipe(Effect.provide(TestServer.layerInMemory(options)))

const reason = (error: unknown) => (error as OAuthError.AuthorizationResponseError).reason

const withParam = (url: string, name: string, value: string | null) => {
  const parsed = new URL(url)
  if (value === null) parsed.searchParams.delete(name)
  else parsed.searchParams.set(name, value)
  return parsed.toString()
}

describe("Pkce", () => {
  it.effect("matches the RFC 7636 Appendix B test vector", () =>
    Effect.gen(function*() {
      const challenge = yield* Pkce.challenge(Redacted.make("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"))
      assert.strictEqual(challenge, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")
    }))

  it.effect("verifiers are 43 unreserved characters and unique", () =>
    Effect.gen(function*() {
      const seen = new Set<string>()
      for (let i = 0; i < 100; i++) {
        const pair = yield* Pkce.make
        const value = Redacted.value(pair.verifier)
        assert.match(value, /^[A-Za-z0-9\-._~]{43}$/)
        assert.strictEqual(pair.method, "S256")
        seen.add(value)
      }
      assert.strictEqual(seen.size, 100)
    }))
})

describe("Authorization", () => {
  it.effect("start builds an S256 URL with a 256-bit state, and keeps the redirect URI", () =>
    Effect.gen(function*() {
      const { login } = yield* setup()
      const url = new URL(login.url)
      assert.strictEqual(url.searchParams.get("code_challenge_method"), "S256")
      assert.strictEqual(url.searchParams.get("response_type"), "code")
      assert.strictEqual(url.searchParams.get("redirect_uri"), redirectUri)
      assert.strictEqual(url.searchParams.get("scope"), "read")
      const state = url.searchParams.get("state") ?? ""
      assert.isAtLeast(state.length, 43) // 32 bytes = 256 bits, base64url
      assert.strictEqual(Redacted.value(login.transaction.state), state)
      assert.strictEqual(login.transaction.redirectUri, redirectUri)
    }))

  it.effect("each login gets its own state and verifier", () =>
    Effect.gen(function*() {
      const a = yield* setup()
      const b = yield* setup()
      assert.notStrictEqual(Redacted.value(a.login.transaction.state), Redacted.value(b.login.transaction.state))
      assert.notStrictEqual(
        Redacted.value(a.login.transaction.codeVerifier),
        Redacted.value(b.login.transaction.codeVerifier)
      )
    }))

  it.effect("complete exchanges the code with the stored verifier and redirect URI", () =>
    Effect.gen(function*() {
      const { endpoint, login, requests, server } = yield* setup()
      const callback = yield* server.authorize(login.url)
      const token = yield* Authorization.complete(endpoint, login.transaction, callback)
      assert.instanceOf(token, Token.Token)
      assert.isTrue(Option.isSome(token.refreshToken))
      assert.strictEqual(requests(), 1)
    }))

  it.effect("the server refuses a code exchanged with another verifier", () =>
    Effect.gen(function*() {
      const { endpoint, login, server } = yield* setup()
      const other = yield* setup()
      const callback = yield* server.authorize(login.url)
      const error = yield* Effect.flip(
        Authorization.complete(
          endpoint,
          new Authorization.Transaction({ ...login.transaction, codeVerifier: other.login.transaction.codeVerifier }),
          callback
        )
      )
      assert.strictEqual(error._tag, "ErrorResponse")
    }))

  const rejected = (
    name: string,
    mutate: (callback: string) => string,
    expected: string,
    options?: TestServer.Options
  ) =>
    it.effect(`rejects ${name} before any token request`, () =>
      Effect.gen(function*() {
        const { endpoint, login, requests, server } = yield* setup(options)
        const callback = mutate(yield* server.authorize(login.url))
        const error = yield* Effect.flip(Authorization.complete(endpoint, login.transaction, callback))
        assert.strictEqual(reason(error), expected)
        assert.strictEqual(requests(), 0)
        assert.notInclude(error.message, Redacted.value(login.transaction.state))
      }))

  rejected("a wrong state", (url) => withParam(url, "state", "forged"), "StateMismatch")
  rejected("a missing state", (url) => withParam(url, "state", null), "MissingState")
  rejected("no code and no error", (url) => withParam(url, "code", null), "MissingCode")
  rejected("a duplicated parameter", (url) => `${url}&code=again`, "DuplicateParameter")
  rejected("an access token in the callback", (url) => withParam(url, "access_token", "leak"), "TokenInCallback")
  rejected("a token in the fragment", (url) => `${url}#access_token=leak`, "TokenInCallback")
  rejected("an iss of another server", (url) => withParam(url, "iss", "https://evil.example"), "IssuerMismatch", {
    issParameter: true
  })
  rejected("a missing iss when the server promises one", (url) => withParam(url, "iss", null), "IssuerMismatch", {
    issParameter: true
  })
  rejected(
    "access_denied (after the state check), as a Denied error",
    (url) => withParam(withParam(url, "code", null), "error", "access_denied"),
    "Denied"
  )

  it.effect("an error callback with a wrong state is a state mismatch, not a denial", () =>
    Effect.gen(function*() {
      const { endpoint, login, server } = yield* setup({ denyAuthorization: true })
      const callback = withParam(yield* server.authorize(login.url), "state", "forged")
      assert.strictEqual(
        reason(yield* Effect.flip(Authorization.complete(endpoint, login.transaction, callback))),
        "StateMismatch"
      )
    }))

  it.effect("a denial carries the server's description", () =>
    Effect.gen(function*() {
      const { endpoint, login, server } = yield* setup({ denyAuthorization: true })
      const error = yield* Effect.flip(
        Authorization.complete(endpoint, login.transaction, yield* server.authorize(login.url))
      )
      assert.strictEqual(reason(error), "Denied")
      assert.include(error.message, "denied")
    }))

  describe("PendingLogins", () => {
    it.effect("a transaction is consumed on first use: a replayed callback is rejected", () =>
      Effect.gen(function*() {
        const { endpoint, login, requests, server } = yield* setup()
        const pending = yield* Authorization.makePendingLogins()
        yield* pending.register(login.transaction)
        const callback = yield* server.authorize(login.url)
        yield* Authorization.completeWith(pending, endpoint, callback)
        const replay = yield* Effect.flip(Authorization.completeWith(pending, endpoint, callback))
        assert.strictEqual(reason(replay), "StateMismatch")
        assert.strictEqual(requests(), 1)
      }))

    it.effect("a transaction of another provider is rejected", () =>
      Effect.gen(function*() {
        const { endpoint, login, requests, server } = yield* setup()
        const pending = yield* Authorization.makePendingLogins()
        yield* pending.register(new Authorization.Transaction({ ...login.transaction, provider: "spotify" }))
        const error = yield* Effect.flip(
          Authorization.completeWith(pending, endpoint, yield* server.authorize(login.url))
        )
        assert.strictEqual(reason(error), "WrongProvider")
        assert.strictEqual(requests(), 0)
      }))

    it.effect("transactions expire", () =>
      Effect.gen(function*() {
        const { endpoint, login, server } = yield* setup()
        const pending = yield* Authorization.makePendingLogins({ timeToLive: Duration.minutes(10) })
        yield* pending.register(login.transaction)
        yield* TestClock.adjust(Duration.minutes(11))
        const error = yield* Effect.flip(
          Authorization.completeWith(pending, endpoint, yield* server.authorize(login.url))
        )
        assert.strictEqual(reason(error), "StateMismatch")
      }))
  })

  it.effect("start refuses an http authorization endpoint that is not loopback", () =>
    Effect.gen(function*() {
      const { provider, server } = yield* setup()
      const error = yield* Effect.flip(
        Authorization.start({
          provider: { ...provider, authorizationEndpoint: Option.some("http://auth.example/authorize") },
          client: server.client,
          redirectUri
        })
      )
      assert.strictEqual(error._tag, "InvalidConfiguration")
    }))
})
