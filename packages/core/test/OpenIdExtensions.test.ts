import {
  Authorization,
  AuthorizedHttpClient,
  ClientAssertion,
  Dpop,
  Grant,
  IdToken,
  Introspection,
  OAuthClient,
  Scopes,
  TokenEndpoint,
  TokenStore,
  UserInfo
} from "@effect-oauth/core"
import { TestServer } from "@effect-oauth/testing"
import { HttpClient, HttpClientRequest } from "@effect/platform"
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Layer, Option, Redacted, TestClock } from "effect"
import { exportJWK, generateKeyPair } from "jose"

const redirectUri = "http://127.0.0.1:8765/callback"

const signIn = (provider: ReturnType<TestServer.TestServer.Service["provider"]>) =>
  Effect.gen(function*() {
    const server = yield* TestServer.TestServer
    const endpoint = yield* TokenEndpoint.make({ provider, client: server.client })
    const started = yield* Authorization.start({
      provider,
      client: server.client,
      redirectUri,
      scopes: Scopes.make("openid"),
      endpoint
    })
    const token = yield* Authorization.complete(endpoint, started.transaction, yield* server.authorize(started.url))
    return { endpoint, started, token }
  })

describe("UserInfo", () => {
  it.effect("reads the user's claims when its sub is the ID token's, and refuses another user's", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      const provider = IdToken.openId(server.provider())
      const { token } = yield* signIn(provider)
      const claims = yield* UserInfo.fetch(provider, token)
      assert.strictEqual(claims.sub, "1")
      assert.strictEqual(claims.email, "test-user@example.com")
      yield* server.configure({ userinfoSubject: "2" })
      const error = yield* Effect.flip(UserInfo.fetch(provider, token))
      assert.strictEqual(error._tag, "@effect-oauth/UserInfoError")
      assert.isTrue(error._tag === "@effect-oauth/UserInfoError" && error.reason === "SubjectMismatch")
    }).pipe(Effect.provide(TestServer.layerInMemory())))
})

describe("Introspection", () => {
  it.effect("an issued token is active with its scopes; a revoked one is not", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      const endpoint = yield* TokenEndpoint.make({ provider: server.provider(), client: server.client })
      const issued = yield* server.issueToken({ scopes: ["read", "write"] })
      const active = yield* Introspection.introspect(endpoint, Redacted.make(issued.accessToken))
      assert.isTrue(active.active)
      if (active.active) {
        assert.deepStrictEqual(active.scopes.values, ["read", "write"])
        assert.isTrue(Option.isSome(active.expiresAt))
      }
      yield* endpoint.revoke(Redacted.make(issued.accessToken))
      const inactive = yield* Introspection.introspect(endpoint, Redacted.make(issued.accessToken))
      assert.isFalse(inactive.active)
      assert.strictEqual((yield* server.counters).introspections, 2)
    }).pipe(Effect.provide(TestServer.layerInMemory())))
})

describe("ClientAssertion", () => {
  it.effect("private_key_jwt: a fresh signed assertion per request authenticates the client; no secret is sent", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      const pair = yield* Effect.promise(() => generateKeyPair("ES256", { extractable: true }))
      yield* server.configure({
        clientPublicJwk: { ...(yield* Effect.promise(() => exportJWK(pair.publicKey))), alg: "ES256" }
      })
      const privateJwk = yield* Effect.promise(() => exportJWK(pair.privateKey))
      const provider = ClientAssertion.use(
        server.provider(),
        ClientAssertion.privateKeyJwt(Redacted.make(JSON.stringify({ ...privateJwk, alg: "ES256" })))
      )
      const endpoint = yield* TokenEndpoint.make({ provider, client: server.client })
      yield* endpoint.request(Grant.ClientCredentials(Scopes.make("read")))
      yield* endpoint.request(Grant.ClientCredentials(Scopes.make("read")))
      // Two requests, two assertions (the server refuses a replayed jti).
      assert.strictEqual((yield* server.counters).clientAssertions, 2)
      // Without the registered key the same assertions are refused.
      yield* server.configure({ clientPublicJwk: null })
      const refused = yield* Effect.flip(endpoint.request(Grant.ClientCredentials(Scopes.make("read"))))
      assert.strictEqual(refused.reason, "ClientAuthentication")
    }).pipe(Effect.provide(TestServer.layerInMemory())))

  it.effect("client_secret_jwt: an HMAC with the secret; a wrong secret is refused", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      const provider = ClientAssertion.use(server.provider(), ClientAssertion.clientSecretJwt())
      const endpoint = yield* TokenEndpoint.make({ provider, client: server.client })
      yield* endpoint.request(Grant.ClientCredentials(Scopes.make("read")))
      assert.strictEqual((yield* server.counters).clientAssertions, 1)
      const wrong = yield* TokenEndpoint.make({
        provider,
        client: { clientId: server.client.clientId, clientSecret: Option.some(Redacted.make("wrong")) }
      })
      const refused = yield* Effect.flip(wrong.request(Grant.ClientCredentials(Scopes.make("read"))))
      assert.strictEqual(refused.reason, "ClientAuthentication")
    }).pipe(Effect.provide(TestServer.layerInMemory())))
})

describe("Dpop", () => {
  it.effect("tokens are DPoP-bound, a nonce is honoured with one retry, the API needs the proof, the refresh token the key", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      yield* server.configure({ requireDpop: true, dpopNonce: true })
      const key = yield* Dpop.generateKey()
      assert.isFalse(key.privateKey.extractable)
      const provider = Dpop.bind(server.provider(), key)
      const endpoint = yield* TokenEndpoint.make({ provider, client: server.client })
      const token = yield* endpoint.request(Grant.ClientCredentials(Scopes.make("read")))
      assert.strictEqual(token.tokenType, "DPoP")
      // The first proof had no nonce: one use_dpop_nonce, then the retry with it.
      assert.strictEqual((yield* server.counters).dpopRejections, 1)

      // The API: a proof with ath, and the resource server's nonce learnt the same way.
      const http = yield* HttpClient.HttpClient
      const proof = yield* provider.extensions!.dpop!.proof("GET", server.meEndpoint, token.accessToken)
      const ok = yield* http.execute(
        HttpClientRequest.get(server.meEndpoint).pipe(
          HttpClientRequest.setHeaders({ authorization: `DPoP ${Redacted.value(token.accessToken)}`, dpop: proof })
        )
      )
      assert.strictEqual(ok.status, 200)
      // The same proof again is a replay; the token as Bearer is refused.
      const replay = yield* http.execute(
        HttpClientRequest.get(server.meEndpoint).pipe(
          HttpClientRequest.setHeaders({ authorization: `DPoP ${Redacted.value(token.accessToken)}`, dpop: proof })
        )
      )
      assert.strictEqual(replay.status, 401)
      const bearer = yield* http.execute(
        HttpClientRequest.get(server.meEndpoint).pipe(HttpClientRequest.bearerToken(Redacted.value(token.accessToken)))
      )
      assert.strictEqual(bearer.status, 401)

      // A plain client cannot accept a DPoP token type.
      yield* server.configure({ requireDpop: false })
      const plain = yield* TokenEndpoint.make({ provider: server.provider(), client: server.client })
      const withProof = yield* endpoint.request(Grant.ClientCredentials(Scopes.make("read")))
      assert.strictEqual(withProof.tokenType, "DPoP")
      const bearerToken = yield* plain.request(Grant.ClientCredentials(Scopes.make("read")))
      assert.strictEqual(bearerToken.tokenType, "Bearer")
    }).pipe(Effect.provide(TestServer.layerInMemory())))

  it.effect("a refresh token bound to the key is refused with another key", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      const provider = Dpop.bind(server.provider(), yield* Dpop.generateKey())
      const { endpoint, token } = yield* signIn(provider)
      assert.strictEqual(token.tokenType, "DPoP")
      const refreshToken = Option.getOrThrow(token.refreshToken)
      const other = yield* TokenEndpoint.make({
        provider: Dpop.bind(server.provider(), yield* Dpop.generateKey()),
        client: server.client
      })
      const refused = yield* Effect.flip(other.request(Grant.RefreshToken(refreshToken), { previous: token }))
      assert.strictEqual(refused.reason, "ErrorResponse")
      const refreshed = yield* endpoint.request(Grant.RefreshToken(refreshToken), { previous: token })
      assert.strictEqual(refreshed.tokenType, "DPoP")
    }).pipe(Effect.provide(TestServer.layerInMemory())))
})

describe("Dpop across restarts", () => {
  it.effect("a refresh token bound to a kept key (generateJwk, importKey) survives a restart", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      const jwk = yield* Dpop.generateJwk()
      const first = yield* Dpop.importKey(jwk)
      assert.isFalse(first.privateKey.extractable)
      const { token } = yield* signIn(Dpop.bind(server.provider(), first))
      assert.strictEqual(token.tokenType, "DPoP")
      // The next process reads the same JWK: the same key, a new extension (no nonces carried over).
      const again = yield* Dpop.importKey(jwk)
      assert.strictEqual(again.thumbprint, first.thumbprint)
      const endpoint = yield* TokenEndpoint.make({
        provider: Dpop.bind(server.provider(), again),
        client: server.client
      })
      const refreshed = yield* endpoint.request(Grant.RefreshToken(Option.getOrThrow(token.refreshToken)), {
        previous: token
      })
      assert.strictEqual(refreshed.tokenType, "DPoP")
      assert.strictEqual((yield* server.counters).invalidGrant, 0)
      // A public JWK is no DPoP key; the error does not quote it.
      const refused = yield* Effect.flip(Dpop.importKey(Redacted.make(JSON.stringify(first.publicJwk))))
      assert.strictEqual(refused._tag, "@effect-oauth/ConfigurationError")
      assert.notInclude(refused.message, String(first.publicJwk.x))
    }).pipe(Effect.provide(TestServer.layerInMemory())))

  it.effect("a restart with a new key: the refresh is refused once, the token dropped, and a new login asked for", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      const { token } = yield* signIn(Dpop.bind(server.provider(), yield* Dpop.generateKey()))
      const session = OAuthClient.user("ann")
      yield* Effect.flatMap(OAuthClient.OAuthClient, (client) => client.setToken(token)).pipe(
        Effect.provide(OAuthClient.layer({ provider: server.provider(), client: server.client, session }))
      )
      yield* TestClock.adjust(Duration.hours(2))
      // The next process made a key of its own: the stored refresh token is bound to the lost one.
      const restarted = OAuthClient.layer({
        provider: Dpop.bind(server.provider(), yield* Dpop.generateKey()),
        client: server.client,
        session
      })
      const { errors, stored } = yield* Effect.gen(function*() {
        const client = yield* OAuthClient.OAuthClient
        const errors = [yield* Effect.flip(client.token), yield* Effect.flip(client.token)]
        const store = yield* TokenStore.TokenStore
        return { errors, stored: yield* store.get(client.key) }
      }).pipe(Effect.provide(restarted))
      // A typed verdict that leads to a new login, given to every caller; one refresh sent, no loop.
      assert.deepStrictEqual(
        errors.map((error) => error._tag === "@effect-oauth/ReauthorizationRequired" ? error.reason : error._tag),
        ["RefreshRejected", "RefreshRejected"]
      )
      assert.isTrue(Option.isNone(stored))
      assert.deepStrictEqual((yield* server.counters).tokenRequests.refresh_token, { ok: 0, error: 1 })
    }).pipe(Effect.provide(Layer.merge(TestServer.layerInMemory(), TokenStore.layerMemory))))
})

describe("Dpop through AuthorizedHttpClient and UserInfo", () => {
  it.effect("API calls carry a proof and learn the resource server's nonce with one retry; a DPoP token is never sent as Bearer", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      yield* server.configure({ requireDpop: true })
      const provider = IdToken.openId(Dpop.bind(server.provider(), yield* Dpop.generateKey()))
      const { token } = yield* signIn(provider)
      assert.strictEqual(token.tokenType, "DPoP")
      // The sign-in learnt no nonce; the API now wants one.
      yield* server.configure({ dpopNonce: true })
      const before = (yield* server.counters).dpopRejections
      const refreshesBefore = (yield* server.counters).tokenRequests.refresh_token
      const api = yield* Effect.gen(function*() {
        const oauth = yield* OAuthClient.OAuthClient
        yield* oauth.setToken(token)
        const http = yield* AuthorizedHttpClient.AuthorizedHttpClient
        return [yield* http.get(server.meEndpoint), yield* http.get(server.meEndpoint)] as const
      }).pipe(
        Effect.provide(
          AuthorizedHttpClient.layer().pipe(
            Layer.provideMerge(
              OAuthClient.layer({ provider, client: server.client, session: OAuthClient.user("ann") })
            ),
            Layer.provide(TokenStore.layerMemory)
          )
        )
      )
      assert.deepStrictEqual(api.map((response) => response.status), [200, 200])
      // Only the first call needed the nonce: one refusal, answered by one retry, without a refresh.
      const counters = yield* server.counters
      assert.strictEqual(counters.dpopRejections, before + 1)
      assert.deepStrictEqual(counters.resourceRequests, { "200": 2, "401": 1 })
      assert.deepStrictEqual(counters.tokenRequests.refresh_token, refreshesBefore)
      const claims = yield* UserInfo.fetch(provider, token)
      assert.strictEqual(claims.sub, "1")
      // The same token on a provider without the extension is refused before anything is sent.
      const sent = (yield* server.counters).dpopRejections
      const refused = yield* Effect.flip(UserInfo.fetch(IdToken.openId(server.provider()), token))
      assert.strictEqual(refused._tag, "@effect-oauth/ConfigurationError")
      assert.strictEqual((yield* server.counters).dpopRejections, sent)
    }).pipe(Effect.provide(TestServer.layerInMemory())))
})

describe("PAR", () => {
  it.effect("a server that requires PAR gets the request pushed; the browser sees only client_id and request_uri", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      yield* server.configure({ requirePushedAuthorizationRequests: true })
      const provider = server.provider()
      const { started, token } = yield* signIn(provider)
      const params = [...new URL(started.url).searchParams.keys()].sort()
      assert.deepStrictEqual(params, ["client_id", "request_uri"])
      assert.isTrue(Redacted.value(token.accessToken).length > 0)
      assert.strictEqual((yield* server.counters).pushedAuthorizationRequests, 1)
      // Without an endpoint to push with, start refuses.
      const refused = yield* Effect.flip(
        Authorization.start({ provider, client: server.client, redirectUri, scopes: Scopes.make("openid") })
      )
      assert.strictEqual(refused._tag, "@effect-oauth/ConfigurationError")
    }).pipe(Effect.provide(TestServer.layerInMemory())))
})
