import { Grant, Scopes, TokenEndpoint } from "@effect-oauth/core"
import * as Osu from "@effect-oauth/core/providers/Osu"
import * as Spotify from "@effect-oauth/core/providers/Spotify"
import { TestServer } from "@effect-oauth/testing"
import { HttpClient, HttpClientRequest } from "@effect/platform"
import type { HttpClientResponse } from "@effect/platform"
import { NodeHttpClient } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Clock, Duration, Effect, Exit, Fiber, Layer, Option, Redacted, TestClock } from "effect"
import * as Crypto from "node:crypto"

type Env = (options?: TestServer.Options) => Layer.Layer<TestServer.TestServer | HttpClient.HttpClient>

// The whole suite runs on both transports, so they cannot drift apart: the real listener on
// 127.0.0.1 through undici, and the in-memory client.
const transports: ReadonlyArray<readonly [string, Env]> = [
  ["in memory", (options) => TestServer.layerInMemory(options)],
  ["node listener", (options) => Layer.merge(TestServer.layer(options), NodeHttpClient.layerUndici)]
]

const Server = TestServer.TestServer

const redirectUri = "http://127.0.0.1:8765/callback"

// RFC 6749 §2.3.1 / Appendix B: form-encode id and secret before Basic encoding.
const formEncode = (value: string) => encodeURIComponent(value).replace(/%20/g, "+")
const basic = (id: string, secret: string) =>
  `Basic ${Buffer.from(`${formEncode(id)}:${formEncode(secret)}`, "utf8").toString("base64")}`

const secretOf = (client: { readonly clientSecret: Option.Option<Redacted.Redacted<string>> }) =>
  Redacted.value(Option.getOrThrow(client.clientSecret))

type Auth = "basic" | "post" | "none" | { readonly header: string }

const send = (request: HttpClientRequest.HttpClientRequest) =>
  Effect.flatMap(HttpClient.HttpClient, (http) => http.execute(request))

/** A form POST to the token endpoint (or `path`), authenticated as the confidential client unless told otherwise. */
const tokenRequest = (
  params: Record<string, string>,
  options: { readonly auth?: Auth; readonly path?: string; readonly secret?: string } = {}
) =>
  Effect.gen(function*() {
    const server = yield* Server
    const auth = options.auth ?? "basic"
    const secret = options.secret ?? secretOf(server.client)
    const body = auth === "post"
      ? { ...params, client_id: server.client.clientId, client_secret: secret }
      : auth === "none"
      ? { ...params, client_id: server.publicClient.clientId }
      : params
    let request = HttpClientRequest.post(`${server.url}${options.path ?? "/token"}`).pipe(
      HttpClientRequest.bodyUrlParams(body),
      HttpClientRequest.acceptJson
    )
    if (auth === "basic") {
      request = HttpClientRequest.setHeader(request, "authorization", basic(server.client.clientId, secret))
    }
    if (typeof auth === "object") {
      request = HttpClientRequest.setHeader(request, "authorization", auth.header)
    }
    return yield* send(request)
  })

const jsonOf = (response: HttpClientResponse.HttpClientResponse) =>
  Effect.map(response.json, (body) => body as Record<string, unknown>)

/** The JSON body of a request that must succeed with 200. */
const ok = <E, R>(request: Effect.Effect<HttpClientResponse.HttpClientResponse, E, R>) =>
  Effect.flatMap(request, (response) =>
    Effect.flatMap(jsonOf(response), (body) => {
      assert.strictEqual(response.status, 200, JSON.stringify(body))
      return Effect.succeed(body)
    }))

/** The status and JSON body of a request expected to fail. */
const refused = <E, R>(request: Effect.Effect<HttpClientResponse.HttpClientResponse, E, R>) =>
  Effect.flatMap(request, (response) => Effect.map(jsonOf(response), (body) => ({ status: response.status, body })))

const pkce = () => {
  const verifier = Crypto.randomBytes(32).toString("base64url")
  return { verifier, challenge: Crypto.createHash("sha256").update(verifier).digest("base64url") }
}

const authorizationUrl = (params: Record<string, string>) =>
  Effect.map(Server, (server) => {
    const url = new URL(server.authorizationEndpoint)
    for (const [key, value] of Object.entries(params)) url.searchParams.set(key, value)
    return url.toString()
  })

/** Runs the authorization request through `authorize` and returns the callback's parameters. */
const callback = (params: Record<string, string>) =>
  Effect.gen(function*() {
    const server = yield* Server
    const location = yield* server.authorize(yield* authorizationUrl(params))
    return new URL(location)
  })

const startLogin = (options: { readonly scope?: string; readonly clientId?: string } = {}) =>
  Effect.gen(function*() {
    const server = yield* Server
    const { challenge, verifier } = pkce()
    const url = yield* callback({
      response_type: "code",
      client_id: options.clientId ?? server.client.clientId,
      redirect_uri: redirectUri,
      scope: options.scope ?? "read write",
      state: "state-123",
      code_challenge: challenge,
      code_challenge_method: "S256"
    })
    return { code: url.searchParams.get("code") ?? "", verifier, url }
  })

const exchange = (code: string, verifier: string, auth: Auth = "basic") =>
  tokenRequest({ grant_type: "authorization_code", code, code_verifier: verifier, redirect_uri: redirectUri }, {
    auth
  })

/** A full login: the token response body of a successful code exchange. */
const login = (scope = "read write") =>
  Effect.flatMap(startLogin({ scope }), ({ code, verifier }) => ok(exchange(code, verifier)))

const refresh = (refreshToken: unknown, extra: Record<string, string> = {}) =>
  tokenRequest({ grant_type: "refresh_token", refresh_token: String(refreshToken), ...extra })

const get = (path: string, accessToken?: unknown) =>
  Effect.flatMap(Server, (server) => {
    const request = HttpClientRequest.get(`${server.url}${path}`)
    return send(accessToken === undefined ? request : HttpClientRequest.bearerToken(request, String(accessToken)))
  })

const counters = Effect.flatMap(Server, (server) => server.counters)

const suite = (transport: string, Env: Env) =>
  describe(`TestServer (${transport})`, () => {
    describe("CORS, for a SPA on another origin", () => {
      it.effect("a preflight is answered; responses name the caller's origin; off, neither", () =>
        Effect.gen(function*() {
          const server = yield* Server
          const origin = "http://127.0.0.1:5173"
          const preflight = yield* send(
            HttpClientRequest.make("OPTIONS")(`${server.url}/token`).pipe(
              HttpClientRequest.setHeaders({
                origin,
                "access-control-request-method": "POST",
                "access-control-request-headers": "authorization, traceparent"
              })
            )
          )
          assert.strictEqual(preflight.status, 204)
          assert.strictEqual(preflight.headers["access-control-allow-origin"], origin)
          assert.include(preflight.headers["access-control-allow-headers"], "authorization")
          assert.include(preflight.headers["access-control-allow-headers"], "traceparent")
          const me = yield* send(
            HttpClientRequest.get(`${server.url}/me`).pipe(HttpClientRequest.setHeader("origin", origin))
          )
          assert.strictEqual(me.status, 401)
          assert.strictEqual(me.headers["access-control-allow-origin"], origin)
          assert.include(me.headers["access-control-expose-headers"], "www-authenticate")
          yield* server.configure({ cors: false })
          const off = yield* send(
            HttpClientRequest.get(`${server.url}/me`).pipe(HttpClientRequest.setHeader("origin", origin))
          )
          assert.isUndefined(off.headers["access-control-allow-origin"])
        }).pipe(Effect.provide(Env())))
    })

    describe("client authentication", () => {
      it.effect("client credentials with Basic (form-encoded special-character secret) and with post", () =>
        Effect.gen(function*() {
          const server = yield* Server
          assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+$/)
          assert.strictEqual(secretOf(server.client), "s3cr:t%+é")
          const viaBasic = yield* ok(tokenRequest({ grant_type: "client_credentials", scope: "read" }))
          assert.strictEqual(viaBasic.token_type, "Bearer")
          assert.strictEqual(viaBasic.expires_in, 3600)
          assert.strictEqual(viaBasic.scope, "read")
          assert.isUndefined(viaBasic.refresh_token)
          assert.isAtLeast(Buffer.from(String(viaBasic.access_token), "base64url").length, 16)
          yield* ok(tokenRequest({ grant_type: "client_credentials" }, { auth: "post" }))
          assert.deepStrictEqual((yield* counters).tokenRequests.client_credentials, { ok: 2, error: 0 })
        }).pipe(Effect.provide(Env())))

      it.effect("a secret sent without form-encoding, or a wrong one, is invalid_client", () =>
        Effect.gen(function*() {
          const server = yield* Server
          const raw = Buffer.from(`${server.client.clientId}:${secretOf(server.client)}`, "utf8").toString("base64")
          const unencoded = yield* refused(
            tokenRequest({ grant_type: "client_credentials" }, { auth: { header: `Basic ${raw}` } })
          )
          assert.strictEqual(unencoded.status, 401)
          assert.strictEqual(unencoded.body.error, "invalid_client")
          const response = yield* tokenRequest({ grant_type: "client_credentials" }, { secret: "wrong" })
          assert.strictEqual(response.status, 401)
          assert.include(response.headers["www-authenticate"] ?? "", "Basic")
          const post = yield* refused(
            tokenRequest({ grant_type: "client_credentials" }, { auth: "post", secret: "wrong" })
          )
          assert.strictEqual(post.status, 401)
          const c = yield* counters
          assert.strictEqual(c.invalidClient, 3)
          assert.deepStrictEqual(c.tokenRequests.client_credentials, { ok: 0, error: 3 })
        }).pipe(Effect.provide(Env())))

      it.effect("two authentication methods at once are refused with invalid_request", () =>
        Effect.gen(function*() {
          const server = yield* Server
          const both = yield* refused(
            tokenRequest({ grant_type: "client_credentials", client_secret: secretOf(server.client) })
          )
          assert.deepStrictEqual([both.status, both.body.error], [400, "invalid_request"])
        }).pipe(Effect.provide(Env())))

      it.effect("requireClientAuthentication restricts the method, and provider() follows it", () =>
        Effect.gen(function*() {
          const server = yield* Server
          assert.strictEqual(server.provider().clientAuthentication, "client_secret_basic")
          yield* server.configure({ requireClientAuthentication: "client_secret_basic" })
          assert.strictEqual(
            (yield* refused(tokenRequest({ grant_type: "client_credentials" }, { auth: "post" }))).status,
            401
          )
          yield* ok(tokenRequest({ grant_type: "client_credentials" }))
          yield* server.configure({ requireClientAuthentication: "client_secret_post" })
          assert.strictEqual(server.provider().clientAuthentication, "client_secret_post")
          assert.strictEqual((yield* refused(tokenRequest({ grant_type: "client_credentials" }))).status, 401)
          yield* ok(tokenRequest({ grant_type: "client_credentials" }, { auth: "post" }))
        }).pipe(Effect.provide(Env())))

      it.effect("the core TokenEndpoint works against it with both methods", () =>
        Effect.gen(function*() {
          const server = yield* Server
          for (const clientAuthentication of ["client_secret_basic", "client_secret_post"] as const) {
            const endpoint = yield* TokenEndpoint.make({
              provider: server.provider({ clientAuthentication }),
              client: server.client,
              maxAttempts: 1
            })
            const token = yield* endpoint.request(Grant.ClientCredentials(Scopes.make("read")))
            assert.strictEqual(Scopes.format(token.scopes), "read")
          }
        }).pipe(Effect.provide(Env())))

      it.effect("the token endpoint wants a form POST with each parameter once", () =>
        Effect.gen(function*() {
          const server = yield* Server
          const duplicate = yield* refused(
            send(
              HttpClientRequest.post(server.tokenEndpoint).pipe(
                HttpClientRequest.bodyText(
                  "grant_type=client_credentials&scope=a&scope=b",
                  "application/x-www-form-urlencoded"
                ),
                HttpClientRequest.setHeader("authorization", basic(server.client.clientId, secretOf(server.client)))
              )
            )
          )
          assert.deepStrictEqual([duplicate.status, duplicate.body.error], [400, "invalid_request"])
          const asJson = yield* refused(
            send(
              HttpClientRequest.post(server.tokenEndpoint).pipe(
                HttpClientRequest.bodyUnsafeJson({ grant_type: "client_credentials" })
              )
            )
          )
          assert.deepStrictEqual([asJson.status, asJson.body.error], [400, "invalid_request"])
          assert.strictEqual((yield* send(HttpClientRequest.get(server.tokenEndpoint))).status, 405)
          const unknown = yield* refused(tokenRequest({ grant_type: "password", username: "u", password: "p" }))
          assert.deepStrictEqual([unknown.status, unknown.body.error], [400, "unsupported_grant_type"])
        }).pipe(Effect.provide(Env())))
    })

    describe("authorization code with PKCE", () => {
      it.effect("authorize returns the callback with code and state; the exchange needs the right verifier", () =>
        Effect.gen(function*() {
          const wrong = yield* startLogin()
          assert.strictEqual(wrong.url.origin + wrong.url.pathname, redirectUri)
          assert.strictEqual(wrong.url.searchParams.get("state"), "state-123")
          assert.isFalse(wrong.url.searchParams.has("iss"))
          const denied = yield* refused(exchange(wrong.code, pkce().verifier))
          assert.deepStrictEqual([denied.status, denied.body.error], [400, "invalid_grant"])
          const missing = yield* startLogin()
          const noVerifier = yield* refused(
            tokenRequest({ grant_type: "authorization_code", code: missing.code, redirect_uri: redirectUri })
          )
          assert.strictEqual(noVerifier.body.error, "invalid_grant")
          const right = yield* startLogin()
          const token = yield* ok(exchange(right.code, right.verifier))
          assert.strictEqual(token.scope, "read write")
          assert.isString(token.refresh_token)
          const c = yield* counters
          assert.deepStrictEqual(c.tokenRequests.authorization_code, { ok: 1, error: 2 })
          assert.strictEqual(c.invalidGrant, 2)
          assert.strictEqual(c.authorizationRequests, 3)
        }).pipe(Effect.provide(Env())))

      it.effect("a code is single-use: a second exchange fails and revokes what the first one issued", () =>
        Effect.gen(function*() {
          const { code, verifier } = yield* startLogin()
          const token = yield* ok(exchange(code, verifier))
          const again = yield* refused(exchange(code, verifier))
          assert.strictEqual(again.body.error, "invalid_grant")
          assert.strictEqual((yield* get("/me", token.access_token)).status, 401)
          assert.strictEqual((yield* refused(refresh(token.refresh_token))).body.error, "invalid_grant")
        }).pipe(Effect.provide(Env())))

      it.effect("redirect_uri must match the authorization request's; codes live 10 minutes", () =>
        Effect.gen(function*() {
          const first = yield* startLogin()
          const mismatch = yield* refused(
            tokenRequest({
              grant_type: "authorization_code",
              code: first.code,
              code_verifier: first.verifier,
              redirect_uri: "http://127.0.0.1:8765/other"
            })
          )
          assert.strictEqual(mismatch.body.error, "invalid_grant")
          const late = yield* startLogin()
          yield* TestClock.adjust(Duration.minutes(10))
          assert.strictEqual((yield* refused(exchange(late.code, late.verifier))).body.error, "invalid_grant")
          const inTime = yield* startLogin()
          yield* TestClock.adjust(Duration.minutes(9))
          yield* ok(exchange(inTime.code, inTime.verifier))
        }).pipe(Effect.provide(Env())))

      it.effect("the authorization request must be response_type=code with an S256 challenge", () =>
        Effect.gen(function*() {
          const server = yield* Server
          const { challenge } = pkce()
          const base = {
            response_type: "code",
            client_id: server.client.clientId,
            redirect_uri: redirectUri,
            state: "s",
            code_challenge: challenge,
            code_challenge_method: "S256"
          }
          const plain = yield* callback({ ...base, code_challenge_method: "plain" })
          assert.strictEqual(plain.searchParams.get("error"), "invalid_request")
          assert.isNull(plain.searchParams.get("code"))
          const { code_challenge_method: _, ...withoutMethod } = base
          assert.strictEqual((yield* callback(withoutMethod)).searchParams.get("error"), "invalid_request")
          const { code_challenge: __, ...withoutChallenge } = base
          assert.strictEqual((yield* callback(withoutChallenge)).searchParams.get("error"), "invalid_request")
          const implicit = yield* callback({ ...base, response_type: "token" })
          assert.strictEqual(implicit.searchParams.get("error"), "unsupported_response_type")
          assert.strictEqual(implicit.searchParams.get("state"), "s")
          // No redirect for an unknown client or an unregistered redirect URI: authorize dies.
          const unknownClient = yield* Effect.exit(
            server.authorize(yield* authorizationUrl({ ...base, client_id: "nobody" }))
          )
          assert.isTrue(Exit.isFailure(unknownClient))
          const evil = yield* Effect.exit(
            server.authorize(yield* authorizationUrl({ ...base, redirect_uri: "https://evil.example/cb" }))
          )
          assert.isTrue(Exit.isFailure(evil))
          const registered = yield* callback({ ...base, redirect_uri: "https://app.example.com/callback" })
          assert.isString(registered.searchParams.get("code"))
          assert.strictEqual(
            (yield* callback({ ...base, redirect_uri: "http://[::1]:1/cb" })).searchParams.has("code"),
            true
          )
        }).pipe(Effect.provide(Env())))

      it.effect("denyAuthorization answers access_denied; issParameter adds iss", () =>
        Effect.gen(function*() {
          const server = yield* Server
          yield* server.configure({ denyAuthorization: true, issParameter: true })
          const denied = yield* startLogin()
          assert.strictEqual(denied.url.searchParams.get("error"), "access_denied")
          assert.strictEqual(denied.url.searchParams.get("state"), "state-123")
          assert.strictEqual(denied.url.searchParams.get("iss"), server.issuer)
          yield* server.configure({ denyAuthorization: false })
          const allowed = yield* startLogin()
          assert.strictEqual(allowed.url.searchParams.get("iss"), server.issuer)
          assert.isTrue(server.provider().authorizationResponseIssParameterSupported)
        }).pipe(Effect.provide(Env())))

      it.effect("the public client uses none + PKCE, and cannot use client credentials", () =>
        Effect.gen(function*() {
          const server = yield* Server
          assert.isTrue(Option.isNone(server.publicClient.clientSecret))
          const { code, verifier } = yield* startLogin({ clientId: server.publicClient.clientId })
          const token = yield* ok(exchange(code, verifier, "none"))
          yield* ok(
            tokenRequest({ grant_type: "refresh_token", refresh_token: String(token.refresh_token) }, { auth: "none" })
          )
          const cc = yield* refused(tokenRequest({ grant_type: "client_credentials" }, { auth: "none" }))
          assert.deepStrictEqual([cc.status, cc.body.error], [400, "unauthorized_client"])
          // The confidential client cannot skip authentication.
          const { code: code2, verifier: verifier2 } = yield* startLogin()
          const unauthenticated = yield* refused(
            tokenRequest({
              grant_type: "authorization_code",
              code: code2,
              code_verifier: verifier2,
              redirect_uri: redirectUri,
              client_id: server.client.clientId
            }, { auth: { header: "" } })
          )
          assert.strictEqual(unauthenticated.body.error, "invalid_client")
        }).pipe(Effect.provide(Env())))
    })

    describe("refresh tokens", () => {
      it.effect("rotation: each refresh spends the refresh token and returns a new one", () =>
        Effect.gen(function*() {
          const first = yield* login()
          const second = yield* ok(refresh(first.refresh_token))
          assert.isString(second.refresh_token)
          assert.notStrictEqual(second.refresh_token, first.refresh_token)
          assert.strictEqual(second.scope, "read write")
          // The standard flavour leaves the old access token valid until it expires.
          assert.strictEqual((yield* get("/me", first.access_token)).status, 200)
          yield* ok(refresh(second.refresh_token))
        }).pipe(Effect.provide(Env())))

      it.effect("reusing a rotated refresh token revokes the whole grant", () =>
        Effect.gen(function*() {
          const first = yield* login()
          const second = yield* ok(refresh(first.refresh_token))
          const third = yield* ok(refresh(second.refresh_token))
          const reuse = yield* refused(refresh(first.refresh_token))
          assert.deepStrictEqual([reuse.status, reuse.body.error], [400, "invalid_grant"])
          for (const token of [first, second, third]) {
            assert.strictEqual((yield* get("/me", token.access_token)).status, 401)
          }
          assert.strictEqual((yield* refused(refresh(third.refresh_token))).body.error, "invalid_grant")
          // Another grant is untouched.
          const other = yield* login()
          assert.strictEqual((yield* get("/me", other.access_token)).status, 200)
          const c = yield* counters
          assert.strictEqual(c.invalidGrant, 2)
          assert.deepStrictEqual(c.tokenRequests.refresh_token, { ok: 2, error: 2 })
        }).pipe(Effect.provide(Env())))

      it.effect("a refresh may narrow the scope, never widen it", () =>
        Effect.gen(function*() {
          const token = yield* login("read write")
          const wider = yield* refused(refresh(token.refresh_token, { scope: "read admin" }))
          assert.deepStrictEqual([wider.status, wider.body.error], [400, "invalid_scope"])
          const narrower = yield* ok(refresh(token.refresh_token, { scope: "read" }))
          assert.strictEqual(narrower.scope, "read")
          assert.strictEqual((yield* get("/me?scope=write", narrower.access_token)).status, 403)
          // The grant keeps its scopes: the next refresh may ask for write again.
          const again = yield* ok(refresh(narrower.refresh_token, { scope: "write" }))
          assert.strictEqual(again.scope, "write")
        }).pipe(Effect.provide(Env())))

      it.effect("rotateRefreshTokens false: no new refresh token, the old one stays valid", () =>
        Effect.gen(function*() {
          const token = yield* login()
          yield* (yield* Server).configure({ rotateRefreshTokens: false })
          const next = yield* ok(refresh(token.refresh_token))
          assert.isUndefined(next.refresh_token)
          yield* ok(refresh(token.refresh_token))
        }).pipe(Effect.provide(Env())))

      it.effect("refreshTokenLifetimeSeconds expires refresh tokens", () =>
        Effect.gen(function*() {
          const token = yield* login()
          yield* TestClock.adjust(Duration.seconds(61))
          assert.strictEqual((yield* refused(refresh(token.refresh_token))).body.error, "invalid_grant")
        }).pipe(Effect.provide(Env({ refreshTokenLifetimeSeconds: 60 }))))
    })

    describe("flavours", () => {
      it.effect("osu!: revoked refresh token is 401 invalid_request; API 401 is {authentication: basic}", () =>
        Effect.gen(function*() {
          const server = yield* Server
          assert.strictEqual(server.provider().clientAuthentication, "client_secret_post")
          const token = yield* login("public")
          assert.strictEqual(token.scope, "public identify")
          const next = yield* ok(refresh(token.refresh_token))
          // osu! revokes the old access token together with the old refresh token.
          const old = yield* get("/me", token.access_token)
          assert.strictEqual(old.status, 401)
          assert.deepStrictEqual(yield* old.json, { authentication: "basic" })
          assert.isUndefined(old.headers["www-authenticate"])
          yield* server.revokeAll()
          const rejected = yield* refused(refresh(next.refresh_token))
          assert.strictEqual(rejected.status, 401)
          assert.deepStrictEqual(rejected.body, {
            error: "invalid_request",
            error_description: "The refresh token is invalid.",
            hint: "Token has been revoked",
            message: "The refresh token is invalid."
          })
          assert.strictEqual((yield* counters).invalidGrant, 1)
          const badClient = yield* refused(
            tokenRequest({ grant_type: "client_credentials" }, { auth: "post", secret: "x" })
          )
          assert.deepStrictEqual([badClient.status, badClient.body.error], [401, "invalid_client"])
        }).pipe(Effect.provide(Env({ flavour: "osu" }))))

      it.effect("provider(Osu.make) is the preset pointed here: its name, issuer, rules and rate limit kept", () =>
        Effect.gen(function*() {
          const server = yield* Server
          const provider = server.provider(Osu.make)
          assert.strictEqual(provider.tokenEndpoint, server.tokenEndpoint)
          assert.deepStrictEqual(provider.authorizationEndpoint, Option.some(server.authorizationEndpoint))
          assert.deepStrictEqual(provider.apiBaseUrl, Option.some(server.apiBaseUrl))
          // osu! has no RFC 7009 endpoint: the preset's provider has none here either.
          assert.isTrue(Option.isNone(provider.revocationEndpoint))
          assert.strictEqual(provider.scopeRules, Osu.rules)
          assert.deepStrictEqual(provider.scopes, Osu.scopes)
          assert.deepStrictEqual(provider.rateLimit, Osu.provider.rateLimit)
          assert.deepStrictEqual(provider.issuer, Osu.provider.issuer)
          assert.strictEqual(provider.name, "osu")
          assert.strictEqual(provider.clientAuthentication, "client_secret_post")
          const endpoint = yield* TokenEndpoint.make({ provider, client: server.client })
          const token = yield* endpoint.request(Grant.ClientCredentials(Scopes.make("public")))
          assert.deepStrictEqual(token.scopes.values, ["public"])
          const renamed = server.provider(Spotify.make, { name: "spotify-test", apiBaseUrl: `${server.url}/v1` })
          assert.strictEqual(renamed.name, "spotify-test")
          assert.deepStrictEqual(renamed.apiBaseUrl, Option.some(`${server.url}/v1`))
          assert.strictEqual(renamed.scopeRules, Spotify.rules)
        }).pipe(Effect.provide(Env({ flavour: "osu" }))))

      it.effect("osu!: DELETE /api/v2/oauth/tokens/current revokes the bearer token", () =>
        Effect.gen(function*() {
          const server = yield* Server
          const token = yield* login("public")
          assert.strictEqual((yield* get("/api/v2/me", token.access_token)).status, 200)
          const deleted = yield* send(
            HttpClientRequest.del(`${server.apiBaseUrl}/v2/oauth/tokens/current`).pipe(
              HttpClientRequest.bearerToken(String(token.access_token))
            )
          )
          assert.strictEqual(deleted.status, 204)
          assert.strictEqual((yield* get("/api/v2/me", token.access_token)).status, 401)
          assert.strictEqual((yield* counters).revocations, 1)
        }).pipe(Effect.provide(Env({ flavour: "osu" }))))

      it.effect("Spotify: refresh responses omit refresh_token and the old one keeps working", () =>
        Effect.gen(function*() {
          const server = yield* Server
          assert.strictEqual(server.provider().clientAuthentication, "client_secret_basic")
          const token = yield* login()
          const first = yield* ok(refresh(token.refresh_token))
          assert.isUndefined(first.refresh_token)
          yield* ok(refresh(token.refresh_token))
          const localhost = yield* Effect.exit(
            server.authorize(
              yield* authorizationUrl({
                response_type: "code",
                client_id: server.client.clientId,
                redirect_uri: "http://localhost:8765/callback",
                code_challenge: pkce().challenge,
                code_challenge_method: "S256"
              })
            )
          )
          assert.isTrue(Exit.isFailure(localhost))
        }).pipe(Effect.provide(Env({ flavour: "spotify" }))))

      it.effect("the flavour can change at runtime", () =>
        Effect.gen(function*() {
          const server = yield* Server
          yield* server.configure({ flavour: "osu" })
          const response = yield* get("/me", "nonsense")
          assert.deepStrictEqual(yield* response.json, { authentication: "basic" })
        }).pipe(Effect.provide(Env())))
    })

    describe("resource server", () => {
      it.effect("/me checks the bearer token, its lifetime and the scope a route needs", () =>
        Effect.gen(function*() {
          const token = yield* login("read")
          const me = yield* ok(get("/me", token.access_token))
          assert.deepStrictEqual(me, { id: 1, username: "test-user", scopes: ["read"] })
          const anonymous = yield* get("/me")
          assert.strictEqual(anonymous.status, 401)
          assert.match(anonymous.headers["www-authenticate"] ?? "", /^Bearer realm=/)
          const invalid = yield* get("/me", "nonsense")
          assert.strictEqual(invalid.status, 401)
          assert.include(invalid.headers["www-authenticate"] ?? "", "error=\"invalid_token\"")
          const forbidden = yield* get("/me?scope=admin", token.access_token)
          assert.strictEqual(forbidden.status, 403)
          assert.include(forbidden.headers["www-authenticate"] ?? "", "error=\"insufficient_scope\", scope=\"admin\"")
          yield* TestClock.adjust(Duration.seconds(3600))
          assert.strictEqual((yield* get("/me", token.access_token)).status, 401)
          assert.deepStrictEqual((yield* counters).meRequests, { "200": 1, "401": 3, "403": 1 })
        }).pipe(Effect.provide(Env())))

      it.effect("a token in the query string is refused, not read", () =>
        Effect.gen(function*() {
          const token = yield* login()
          const response = yield* get(`/me?access_token=${String(token.access_token)}`)
          assert.strictEqual(response.status, 400)
          assert.include(response.headers["www-authenticate"] ?? "", "invalid_request")
        }).pipe(Effect.provide(Env())))

      it.effect("requiredScopes applies to every protected route", () =>
        Effect.gen(function*() {
          const server = yield* Server
          const token = yield* login("read")
          yield* server.configure({ requiredScopes: ["admin"] })
          const response = yield* get("/api/v2/me", token.access_token)
          assert.strictEqual(response.status, 403)
          assert.include(response.headers["www-authenticate"] ?? "", "scope=\"admin\"")
          yield* server.configure({ requiredScopes: [] })
          assert.strictEqual((yield* get("/api/v2/me", token.access_token)).status, 200)
        }).pipe(Effect.provide(Env())))

      it.effect("/api/* and /v1/* answer small plausible JSON", () =>
        Effect.gen(function*() {
          const server = yield* Server
          assert.strictEqual(server.apiBaseUrl, `${server.url}/api`)
          const token = yield* login()
          assert.strictEqual((yield* ok(get("/api/v2/me", token.access_token))).username, "test-user")
          assert.strictEqual((yield* ok(get("/api/v2/users/2", token.access_token))).id, 2)
          assert.strictEqual((yield* ok(get("/api/v2/beatmaps/75", token.access_token))).id, 75)
          assert.isObject((yield* ok(get("/v1/search?q=x&type=track", token.access_token))).tracks)
          assert.deepStrictEqual(yield* ok(get("/api/anything/else", token.access_token)), {
            path: "/api/anything/else",
            method: "GET"
          })
          assert.strictEqual((yield* get("/nowhere", token.access_token)).status, 404)
          assert.deepStrictEqual((yield* counters).resourceRequests, { "200": 5 })
        }).pipe(Effect.provide(Env())))

      it.effect("issueToken mints a token with the scopes and lifetime asked for", () =>
        Effect.gen(function*() {
          const server = yield* Server
          const issued = yield* server.issueToken({ scopes: ["read", "chat.write"], lifetimeSeconds: 60 })
          assert.strictEqual(issued.lifetime, 60)
          assert.isString(issued.refreshToken)
          assert.deepStrictEqual((yield* ok(get("/me", issued.accessToken))).scopes, ["read", "chat.write"])
          yield* ok(refresh(issued.refreshToken))
          yield* TestClock.adjust(Duration.seconds(60))
          assert.strictEqual((yield* get("/me", issued.accessToken)).status, 401)
          const forever = yield* server.issueToken({ lifetimeSeconds: null, withRefreshToken: false })
          assert.isUndefined(forever.refreshToken)
          yield* TestClock.adjust(Duration.days(3650))
          assert.strictEqual((yield* get("/me", forever.accessToken)).status, 200)
          assert.deepStrictEqual((yield* counters).tokenRequests.client_credentials, { ok: 0, error: 0 })
        }).pipe(Effect.provide(Env())))

      it.effect("accessTokenLifetimeSeconds: 0 is sent as is, null omits expires_in", () =>
        Effect.gen(function*() {
          const server = yield* Server
          yield* server.configure({ accessTokenLifetimeSeconds: 0 })
          const zero = yield* ok(tokenRequest({ grant_type: "client_credentials" }))
          assert.strictEqual(zero.expires_in, 0)
          assert.strictEqual((yield* get("/me", zero.access_token)).status, 401)
          yield* server.configure({ accessTokenLifetimeSeconds: null })
          const endless = yield* ok(tokenRequest({ grant_type: "client_credentials" }))
          assert.isFalse("expires_in" in endless)
          assert.strictEqual((yield* get("/me", endless.access_token)).status, 200)
        }).pipe(Effect.provide(Env())))

      it.effect("clockOffsetSeconds makes the server's clock run ahead", () =>
        Effect.gen(function*() {
          const server = yield* Server
          const token = yield* ok(tokenRequest({ grant_type: "client_credentials" }))
          yield* server.configure({ clockOffsetSeconds: 3600 })
          assert.strictEqual((yield* get("/me", token.access_token)).status, 401)
        }).pipe(Effect.provide(Env())))
    })

    describe("metadata and revocation", () => {
      it.effect("serves RFC 8414 metadata on both well-known paths", () =>
        Effect.gen(function*() {
          const server = yield* Server
          for (const path of ["/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"]) {
            const metadata = yield* ok(get(path))
            assert.strictEqual(metadata.issuer, server.issuer)
            assert.strictEqual(metadata.token_endpoint, server.tokenEndpoint)
            assert.strictEqual(metadata.authorization_endpoint, server.authorizationEndpoint)
            assert.strictEqual(metadata.revocation_endpoint, server.revocationEndpoint)
            assert.strictEqual(metadata.device_authorization_endpoint, server.deviceAuthorizationEndpoint)
            assert.deepStrictEqual(metadata.code_challenge_methods_supported, ["S256"])
            assert.strictEqual(metadata.authorization_response_iss_parameter_supported, true)
            assert.include(
              metadata.grant_types_supported as Array<string>,
              "urn:ietf:params:oauth:grant-type:device_code"
            )
          }
        }).pipe(Effect.provide(Env({ issParameter: true }))))

      it.effect("revoking a refresh token revokes its grant; unknown tokens still get 200", () =>
        Effect.gen(function*() {
          const server = yield* Server
          const token = yield* login()
          const revoke = (value: unknown) => tokenRequest({ token: String(value) }, { path: "/revoke" })
          assert.strictEqual((yield* revoke(token.refresh_token)).status, 200)
          assert.strictEqual((yield* get("/me", token.access_token)).status, 401)
          assert.strictEqual((yield* refused(refresh(token.refresh_token))).body.error, "invalid_grant")
          assert.strictEqual((yield* revoke("never-issued")).status, 200)
          const other = yield* login()
          assert.strictEqual((yield* revoke(other.access_token)).status, 200)
          assert.strictEqual((yield* get("/me", other.access_token)).status, 401)
          yield* ok(refresh(other.refresh_token))
          assert.strictEqual((yield* counters).revocations, 3)
          assert.strictEqual(server.revocationEndpoint, `${server.url}/revoke`)
        }).pipe(Effect.provide(Env())))
    })

    describe("device authorization", () => {
      const start = Effect.gen(function*() {
        const server = yield* Server
        const device = yield* ok(
          tokenRequest({ scope: "read" }, { path: new URL(server.deviceAuthorizationEndpoint).pathname })
        )
        return device
      })
      const poll = (deviceCode: unknown) =>
        tokenRequest({ grant_type: "urn:ietf:params:oauth:grant-type:device_code", device_code: String(deviceCode) })

      it.effect("pending, slow_down, then a token once approved", () =>
        Effect.gen(function*() {
          const server = yield* Server
          const device = yield* start
          assert.match(String(device.user_code), /^[B-DF-HJ-NP-TV-XZ]{4}-[B-DF-HJ-NP-TV-XZ]{4}$/)
          assert.strictEqual(device.verification_uri, `${server.url}/device`)
          assert.include(String(device.verification_uri_complete), String(device.user_code))
          assert.strictEqual(device.expires_in, 600)
          assert.strictEqual(device.interval, 5)
          assert.strictEqual((yield* refused(poll(device.device_code))).body.error, "authorization_pending")
          assert.strictEqual((yield* refused(poll(device.device_code))).body.error, "slow_down")
          assert.isTrue(yield* server.approveDevice(String(device.user_code).toLowerCase()))
          yield* TestClock.adjust(Duration.seconds(10))
          const token = yield* ok(poll(device.device_code))
          assert.strictEqual(token.scope, "read")
          assert.isString(token.refresh_token)
          assert.strictEqual((yield* refused(poll(device.device_code))).body.error, "invalid_grant")
          assert.deepStrictEqual((yield* counters).tokenRequests["urn:ietf:params:oauth:grant-type:device_code"], {
            ok: 1,
            error: 3
          })
          assert.isFalse(yield* server.approveDevice("BCDF-GHJK"))
        }).pipe(Effect.provide(Env())))

      it.effect("access_denied when the user denies, expired_token after expires_in", () =>
        Effect.gen(function*() {
          const server = yield* Server
          const denied = yield* start
          yield* server.denyDevice(String(denied.user_code))
          assert.strictEqual((yield* refused(poll(denied.device_code))).body.error, "access_denied")
          const late = yield* start
          yield* TestClock.adjust(Duration.seconds(600))
          assert.strictEqual((yield* refused(poll(late.device_code))).body.error, "expired_token")
        }).pipe(Effect.provide(Env())))
    })

    describe("fault injection", () => {
      it.effect("a status/body/headers fault answers the next token request once, in order", () =>
        Effect.gen(function*() {
          const server = yield* Server
          yield* server.injectFaults([
            { status: 503, body: "<h1>busy</h1>", headers: { "content-type": "text/html", "retry-after": "7" } },
            { status: 429 }
          ])
          const first = yield* tokenRequest({ grant_type: "client_credentials" })
          assert.strictEqual(first.status, 503)
          assert.strictEqual(first.headers["retry-after"], "7")
          assert.include(first.headers["content-type"] ?? "", "text/html")
          assert.strictEqual(yield* first.text, "<h1>busy</h1>")
          assert.strictEqual((yield* tokenRequest({ grant_type: "client_credentials" })).status, 429)
          yield* ok(tokenRequest({ grant_type: "client_credentials" }))
          const c = yield* counters
          assert.strictEqual(c.faults, 2)
          assert.deepStrictEqual(c.tokenRequests.client_credentials, { ok: 1, error: 0 })
        }).pipe(Effect.provide(Env())))

      it.effect("a fault for another path leaves the token endpoint alone; headers alone decorate the real answer", () =>
        Effect.gen(function*() {
          const server = yield* Server
          const token = yield* ok(tokenRequest({ grant_type: "client_credentials" }))
          yield* server.injectFaults([
            { path: "/me", status: 401, body: "{}", headers: { "content-type": "application/json" } },
            { path: "/me", headers: { "www-authenticate": "Bearer error=\"invalid_token\"" } }
          ])
          yield* ok(tokenRequest({ grant_type: "client_credentials" }))
          assert.strictEqual((yield* get("/me", token.access_token)).status, 401)
          const decorated = yield* get("/me", token.access_token)
          assert.strictEqual(decorated.status, 200)
          assert.include(decorated.headers["www-authenticate"] ?? "", "invalid_token")
          assert.strictEqual((yield* get("/me", token.access_token)).headers["www-authenticate"], undefined)
        }).pipe(Effect.provide(Env())))

      it.effect("redirectTo answers 302 (which the client must not follow)", () =>
        Effect.gen(function*() {
          const server = yield* Server
          yield* server.injectFaults([{ redirectTo: "http://127.0.0.1:9/elsewhere" }])
          const response = yield* tokenRequest({ grant_type: "client_credentials" })
          assert.strictEqual(response.status, 302)
          assert.strictEqual(response.headers["location"], "http://127.0.0.1:9/elsewhere")
        }).pipe(Effect.provide(Env())))

      it.effect("afterProcessing: the refresh happens, the answer is lost", () =>
        Effect.gen(function*() {
          const server = yield* Server
          const token = yield* login()
          yield* server.injectFaults([{ afterProcessing: true, status: 200, body: "{\"access_tok" }])
          const truncated = yield* refresh(token.refresh_token)
          assert.strictEqual(yield* truncated.text, "{\"access_tok")
          // The server did rotate: the refresh token is spent, and reusing it revokes the grant.
          assert.strictEqual((yield* refused(refresh(token.refresh_token))).body.error, "invalid_grant")
        }).pipe(Effect.provide(Env())))

      it.live("delayMillis and latencyMillis hold the answer back", () =>
        Effect.gen(function*() {
          const server = yield* Server
          yield* server.injectFaults([{ delayMillis: 150 }])
          const started = yield* Clock.currentTimeMillis
          yield* ok(tokenRequest({ grant_type: "client_credentials" }))
          assert.isAtLeast((yield* Clock.currentTimeMillis) - started, 150)
          yield* server.configure({ latencyMillis: 100 })
          const again = yield* Clock.currentTimeMillis
          yield* ok(get("/.well-known/oauth-authorization-server"))
          assert.isAtLeast((yield* Clock.currentTimeMillis) - again, 100)
        }).pipe(Effect.provide(Env())))

      it.live("dropConnection destroys the socket; hang answers nothing until the client gives up", () =>
        Effect.gen(function*() {
          const server = yield* Server
          yield* server.injectFaults([{ dropConnection: true }, { hang: true }])
          const dropped = yield* Effect.flip(tokenRequest({ grant_type: "client_credentials" }))
          assert.strictEqual(dropped._tag, "RequestError")
          const hung = yield* Effect.flip(
            tokenRequest({ grant_type: "client_credentials" }).pipe(Effect.timeout(Duration.millis(200)))
          )
          assert.strictEqual(hung._tag, "TimeoutException")
          yield* ok(tokenRequest({ grant_type: "client_credentials" }))
          assert.strictEqual((yield* counters).faults, 2)
        }).pipe(Effect.provide(Env())))

      it.effect("delays run on the Clock, so TestClock drives them", () =>
        Effect.gen(function*() {
          const server = yield* Server
          yield* server.injectFaults([{ delayMillis: 60_000 }])
          const fiber = yield* Effect.fork(tokenRequest({ grant_type: "client_credentials" }))
          // Let the request reach the server before moving time.
          for (let i = 0; i < 200 && (yield* counters).faults === 0; i++) {
            yield* Effect.promise(() => new Promise((r) => setImmediate(r)))
          }
          yield* TestClock.adjust(Duration.minutes(1))
          assert.strictEqual((yield* Fiber.join(fiber)).status, 200)
        }).pipe(Effect.provide(Env())))
    })

    describe("resetSecret, revokeAll, counters", () => {
      it.effect("resetSecret: the old secret is invalid_client, every token is revoked, the new client works", () =>
        Effect.gen(function*() {
          const server = yield* Server
          const token = yield* login()
          const renewed = yield* server.resetSecret()
          assert.strictEqual(renewed.clientId, server.client.clientId)
          assert.notStrictEqual(secretOf(renewed), secretOf(server.client))
          const stale = yield* refused(tokenRequest({ grant_type: "client_credentials" }))
          assert.deepStrictEqual([stale.status, stale.body.error], [401, "invalid_client"])
          assert.strictEqual((yield* get("/me", token.access_token)).status, 401)
          const endpoint = yield* TokenEndpoint.make({ provider: server.provider(), client: renewed, maxAttempts: 1 })
          yield* endpoint.request(Grant.ClientCredentials(Scopes.make()))
          const old = yield* Effect.flip(
            Effect.flatMap(
              TokenEndpoint.make({ provider: server.provider(), client: server.client, maxAttempts: 1 }),
              (e) => e.request(Grant.ClientCredentials(Scopes.make()))
            )
          )
          assert.strictEqual(old.reason, "ClientAuthentication")
        }).pipe(Effect.provide(Env())))

      it.effect("revokeAll ends every grant; resetCounters starts the counts again", () =>
        Effect.gen(function*() {
          const server = yield* Server
          const a = yield* login()
          const b = yield* ok(tokenRequest({ grant_type: "client_credentials" }))
          yield* server.revokeAll()
          assert.strictEqual((yield* get("/me", a.access_token)).status, 401)
          assert.strictEqual((yield* get("/me", b.access_token)).status, 401)
          assert.strictEqual((yield* refused(refresh(a.refresh_token))).body.error, "invalid_grant")
          const before = yield* counters
          assert.deepStrictEqual(before.tokenRequests.client_credentials, { ok: 1, error: 0 })
          assert.deepStrictEqual(before.tokenRequests.authorization_code, { ok: 1, error: 0 })
          assert.deepStrictEqual(before.meRequests, { "401": 2 })
          yield* server.resetCounters
          const after = yield* counters
          assert.deepStrictEqual(after.tokenRequests.refresh_token, { ok: 0, error: 0 })
          assert.deepStrictEqual(after.meRequests, {})
          assert.strictEqual(after.invalidGrant, 0)
          assert.deepStrictEqual(TestServer.tokenRequests(after, "client_credentials"), { ok: 0, error: 0 })
        }).pipe(Effect.provide(Env())))

      it.effect("secrets never appear in the service's printed form", () =>
        Effect.gen(function*() {
          const server = yield* Server
          assert.notInclude(JSON.stringify(server.client), "s3cr")
          assert.notInclude(String(Option.getOrThrow(server.client.clientSecret)), "s3cr")
        }).pipe(Effect.provide(Env())))
    })
  })

for (const [transport, Env] of transports) suite(transport, Env)

describe("TestServer in-memory transport", () => {
  it.effect("layerInMemory serves the same server without sockets; other origins fail", () =>
    Effect.gen(function*() {
      const server = yield* Server
      assert.strictEqual(server.url, TestServer.inMemoryUrl)
      const token = yield* ok(tokenRequest({ grant_type: "client_credentials", scope: "read" }))
      assert.strictEqual((yield* ok(get("/me", token.access_token))).username, "test-user")
      yield* server.injectFaults([{ dropConnection: true }])
      const dropped = yield* Effect.flip(tokenRequest({ grant_type: "client_credentials" }))
      assert.strictEqual(dropped._tag, "RequestError")
      assert.strictEqual(dropped._tag === "RequestError" ? dropped.reason : undefined, "Transport")
      const elsewhere = yield* Effect.flip(send(HttpClientRequest.get("https://example.com/")))
      assert.strictEqual(elsewhere._tag, "RequestError")
    }).pipe(Effect.provide(TestServer.layerInMemory())))

  it.effect("10,000 refresh cycles under TestClock stay fast and keep working", () =>
    Effect.gen(function*() {
      const server = yield* Server
      // TestClock.adjust itself costs a few real milliseconds, so time moves in steps of 1,000 cycles.
      yield* server.configure({ accessTokenLifetimeSeconds: 3600 })
      let token = yield* login()
      let previous = token
      for (let step = 0; step < 10; step++) {
        yield* TestClock.adjust(Duration.minutes(59))
        for (let i = 0; i < 1_000; i++) {
          previous = token
          token = yield* ok(refresh(token.refresh_token))
        }
      }
      assert.strictEqual((yield* ok(get("/me", token.access_token))).username, "test-user")
      const seen = yield* counters
      assert.deepStrictEqual(seen.tokenRequests.refresh_token, { ok: 10_000, error: 0 })
      assert.strictEqual(seen.invalidGrant, 0)
      // The tokens of the first cycles have long expired; the last rotated refresh token is spent.
      yield* TestClock.adjust(Duration.minutes(61))
      assert.strictEqual((yield* get("/me", token.access_token)).status, 401)
      assert.strictEqual((yield* refused(refresh(previous.refresh_token))).body.error, "invalid_grant")
    }).pipe(Effect.provide(TestServer.layerInMemory())), 60_000)
})
