// @vitest-environment happy-dom
import { Authorization, AuthorizedHttpClient, IdToken, OAuthClient, Scopes } from "@effect-oauth/core"
import { BrowserOAuth } from "@effect-oauth/platform-browser"
import { TestServer } from "@effect-oauth/testing"
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Inspectable, Layer, Option, Redacted, Schema, TestClock } from "effect"

const origin = globalThis.location.origin
const redirectUri = `${origin}/callback`

/** The SPA's layers over the in-memory server; `navigate` records where the page was sent. */
const Env = (
  sent: Array<string>,
  store: BrowserOAuth.Store = BrowserOAuth.sessionStorage,
  switches?: TestServer.Options,
  openId = false
) =>
  Layer.unwrapEffect(
    Effect.map(TestServer.TestServer, (server) =>
      BrowserOAuth.layerWith({
        provider: openId ? IdToken.openId(server.provider()) : server.provider(),
        client: server.publicClient,
        scopes: openId ? Scopes.make("openid", "read") : Scopes.make("read"),
        redirectUri,
        store,
        navigate: (url) => Effect.sync(() => sent.push(url))
      }))
  ).pipe(Layer.provideMerge(TestServer.layerInMemory(switches)))

/** Plays the browser: the server approves and redirects; the page lands on the callback URL. */
const landOnCallback = (authorizationUrl: string, tamper: (url: URL) => URL = (u) => u) =>
  Effect.gen(function*() {
    const server = yield* TestServer.TestServer
    const callback = tamper(new URL(yield* server.authorize(authorizationUrl)))
    globalThis.history.replaceState(null, "", callback.toString())
    return callback
  })

const pendingTransactions = () =>
  Object.keys(globalThis.sessionStorage).filter((key) => key.startsWith("effect-oauth/login/")).length

describe("BrowserOAuth", () => {
  it.effect("login keeps the transaction by state and sends the page to the authorization URL", () =>
    Effect.gen(function*() {
      globalThis.sessionStorage.clear()
      const sent: Array<string> = []
      yield* BrowserOAuth.login().pipe(Effect.provide(Env(sent)))
      assert.strictEqual(sent.length, 1)
      const url = new URL(sent[0]!)
      const state = url.searchParams.get("state")!
      assert.strictEqual(url.searchParams.get("code_challenge_method"), "S256")
      assert.strictEqual(url.searchParams.get("redirect_uri"), redirectUri)
      const stored = globalThis.sessionStorage.getItem(BrowserOAuth.transactionKey(state))
      assert.isNotNull(stored)
      // The verifier is kept in the tab's own storage, never sent in the URL.
      assert.notInclude(sent[0]!, JSON.parse(stored!).codeVerifier)
    }))

  it.effect("completeLogin exchanges the code, stores the token, cleans the address bar; the API call works", () =>
    Effect.gen(function*() {
      globalThis.sessionStorage.clear()
      const sent: Array<string> = []
      const result = yield* Effect.gen(function*() {
        yield* BrowserOAuth.login()
        const callback = yield* landOnCallback(sent[0]!)
        const service = yield* BrowserOAuth.BrowserOAuth
        assert.isTrue(service.isCallback(globalThis.location))
        const token = yield* BrowserOAuth.completeLogin(globalThis.location)
        const server = yield* TestServer.TestServer
        const http = yield* AuthorizedHttpClient.AuthorizedHttpClient
        const me = yield* http.get(server.meEndpoint)
        return { token, callback, status: me.status }
      }).pipe(Effect.provide(Env(sent)))
      assert.deepStrictEqual(result.token.scopes.values, ["read"])
      assert.strictEqual(result.status, 200)
      const href = new URL(globalThis.location.href)
      assert.isFalse(href.searchParams.has("code"))
      assert.isFalse(href.searchParams.has("state"))
      assert.strictEqual(href.pathname, "/callback")
      assert.strictEqual(pendingTransactions(), 0)
      // The token is in sessionStorage: a reload (new layers) finds it.
      const again = yield* Effect.flatMap(OAuthClient.OAuthClient, (client) => client.token).pipe(
        Effect.provide(Env([]))
      )
      assert.strictEqual(again.version, result.token.version)
    }))

  it.effect("an OpenID login keeps its nonce in the stored transaction, never printed, and completes with it after the round trip", () =>
    Effect.gen(function*() {
      globalThis.sessionStorage.clear()
      const sent: Array<string> = []
      const token = yield* Effect.gen(function*() {
        yield* BrowserOAuth.login()
        const url = new URL(sent[0]!)
        const nonce = url.searchParams.get("nonce")!
        const stored = globalThis.sessionStorage.getItem(BrowserOAuth.transactionKey(url.searchParams.get("state")!))!
        assert.strictEqual(JSON.parse(stored).nonce, nonce)
        const transaction = Schema.decodeUnknownSync(Schema.parseJson(Authorization.Transaction))(stored)
        assert.strictEqual(Redacted.value(Option.getOrThrow(transaction.nonce)), nonce)
        for (const printed of [String(transaction), JSON.stringify(transaction), Inspectable.format(transaction)]) {
          assert.notInclude(printed, nonce)
        }
        yield* landOnCallback(sent[0]!)
        return yield* BrowserOAuth.completeLogin(globalThis.location)
      }).pipe(Effect.provide(Env(sent, BrowserOAuth.sessionStorage, undefined, true)))
      assert.isTrue(Option.isSome(token.idToken))
    }))

  it.effect("a server that requires pushed requests: the login is pushed, the page sees only client_id and request_uri", () =>
    Effect.gen(function*() {
      globalThis.sessionStorage.clear()
      const sent: Array<string> = []
      const result = yield* Effect.gen(function*() {
        yield* BrowserOAuth.login()
        yield* landOnCallback(sent[0]!)
        const token = yield* BrowserOAuth.completeLogin(globalThis.location)
        const server = yield* TestServer.TestServer
        return { token, pushed: (yield* server.counters).pushedAuthorizationRequests }
      }).pipe(Effect.provide(Env(sent, BrowserOAuth.sessionStorage, { requirePushedAuthorizationRequests: true })))
      assert.deepStrictEqual([...new URL(sent[0]!).searchParams.keys()].sort(), ["client_id", "request_uri"])
      assert.strictEqual(result.pushed, 1)
      assert.deepStrictEqual(result.token.scopes.values, ["read"])
    }))

  it.effect("a tampered state is rejected: no token request, the address bar cleaned", () =>
    Effect.gen(function*() {
      globalThis.sessionStorage.clear()
      const sent: Array<string> = []
      const { counters, error } = yield* Effect.gen(function*() {
        yield* BrowserOAuth.login()
        yield* landOnCallback(sent[0]!, (u) => {
          u.searchParams.set("state", "forged")
          return u
        })
        const error = yield* Effect.flip(BrowserOAuth.completeLogin(globalThis.location))
        const server = yield* TestServer.TestServer
        return { error, counters: yield* server.counters }
      }).pipe(Effect.provide(Env(sent)))
      assert.strictEqual(error._tag, "@effect-oauth/AuthorizationError")
      if (error._tag === "@effect-oauth/AuthorizationError") assert.strictEqual(error.reason, "StateMismatch")
      assert.strictEqual(
        counters.tokenRequests.authorization_code.ok + counters.tokenRequests.authorization_code.error,
        0
      )
      assert.isFalse(new URL(globalThis.location.href).searchParams.has("code"))
    }))

  it.effect("a callback with a token in its fragment is rejected: the fragment leaves the address bar too", () =>
    Effect.gen(function*() {
      globalThis.sessionStorage.clear()
      const sent: Array<string> = []
      const { counters, error } = yield* Effect.gen(function*() {
        yield* BrowserOAuth.login()
        yield* landOnCallback(sent[0]!, (u) => {
          u.hash = "access_token=injected-token&token_type=bearer"
          return u
        })
        assert.include(globalThis.location.href, "injected-token")
        const error = yield* Effect.flip(BrowserOAuth.completeLogin(globalThis.location))
        const server = yield* TestServer.TestServer
        return { error, counters: yield* server.counters }
      }).pipe(Effect.provide(Env(sent)))
      assert.strictEqual(error._tag, "@effect-oauth/AuthorizationError")
      if (error._tag === "@effect-oauth/AuthorizationError") assert.strictEqual(error.reason, "TokenInCallback")
      assert.strictEqual(counters.tokenRequests.authorization_code.ok, 0)
      const href = new URL(globalThis.location.href)
      assert.strictEqual(href.hash, "")
      assert.notInclude(globalThis.location.href, "injected-token")
      assert.isFalse(href.searchParams.has("code"))
      assert.isFalse(href.searchParams.has("state"))
      assert.strictEqual(href.pathname, "/callback")
    }))

  it.effect("a replayed callback finds no transaction", () =>
    Effect.gen(function*() {
      globalThis.sessionStorage.clear()
      const sent: Array<string> = []
      const error = yield* Effect.gen(function*() {
        yield* BrowserOAuth.login()
        const callback = yield* landOnCallback(sent[0]!)
        yield* BrowserOAuth.completeLogin(callback)
        return yield* Effect.flip(BrowserOAuth.completeLogin(callback))
      }).pipe(Effect.provide(Env(sent)))
      assert.strictEqual(error._tag, "@effect-oauth/AuthorizationError")
      if (error._tag === "@effect-oauth/AuthorizationError") assert.strictEqual(error.reason, "StateMismatch")
    }))

  it.effect("a login older than 10 minutes is refused like an unknown state, before any token request", () =>
    Effect.gen(function*() {
      globalThis.sessionStorage.clear()
      const sent: Array<string> = []
      const { counters, error } = yield* Effect.gen(function*() {
        yield* BrowserOAuth.login()
        yield* landOnCallback(sent[0]!)
        yield* TestClock.adjust(Duration.minutes(11))
        const error = yield* Effect.flip(BrowserOAuth.completeLogin(globalThis.location))
        const server = yield* TestServer.TestServer
        return { error, counters: yield* server.counters }
      }).pipe(Effect.provide(Env(sent)))
      assert.strictEqual(error._tag, "@effect-oauth/AuthorizationError")
      if (error._tag === "@effect-oauth/AuthorizationError") assert.strictEqual(error.reason, "StateMismatch")
      assert.strictEqual(
        counters.tokenRequests.authorization_code.ok + counters.tokenRequests.authorization_code.error,
        0
      )
      assert.strictEqual(pendingTransactions(), 0)
    }))

  it.effect("a denied login is a typed Denied error", () =>
    Effect.gen(function*() {
      globalThis.sessionStorage.clear()
      const sent: Array<string> = []
      const error = yield* Effect.gen(function*() {
        const server = yield* TestServer.TestServer
        yield* server.configure({ denyAuthorization: true })
        yield* BrowserOAuth.login()
        yield* landOnCallback(sent[0]!)
        return yield* Effect.flip(BrowserOAuth.completeLogin(globalThis.location))
      }).pipe(Effect.provide(Env(sent)))
      assert.strictEqual(error._tag, "@effect-oauth/AuthorizationError")
      if (error._tag === "@effect-oauth/AuthorizationError") assert.strictEqual(error.reason, "Denied")
    }))

  it.effect("logout revokes at the server and forgets the token", () =>
    Effect.gen(function*() {
      globalThis.sessionStorage.clear()
      const sent: Array<string> = []
      const { revocations, after } = yield* Effect.gen(function*() {
        yield* BrowserOAuth.login()
        yield* landOnCallback(sent[0]!)
        yield* BrowserOAuth.completeLogin(globalThis.location)
        yield* BrowserOAuth.logout
        const server = yield* TestServer.TestServer
        const client = yield* OAuthClient.OAuthClient
        return { revocations: (yield* server.counters).revocations, after: yield* Effect.either(client.token) }
      }).pipe(Effect.provide(Env(sent)))
      assert.isAtLeast(revocations, 1)
      assert.isTrue(after._tag === "Left")
      assert.isTrue(
        Object.keys(globalThis.sessionStorage).every((key) => !key.startsWith("effect-oauth/token/")),
        "no token left in sessionStorage"
      )
    }))
})
