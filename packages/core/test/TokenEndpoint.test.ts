import { OAuthError } from "@effect-oauth/core"
import { ClientConfig, Grant, Provider, Scopes, TokenEndpoint } from "@effect-oauth/core"
import * as Osu from "@effect-oauth/core/providers/Osu"
import type { HttpClientRequest } from "@effect/platform"
import { FetchHttpClient, HttpClient, HttpClientError, HttpClientResponse } from "@effect/platform"
import { NodeHttpClient } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import type { Layer } from "effect"
import {
  Deferred,
  Duration,
  Effect,
  Either,
  Exit,
  Fiber,
  Logger,
  LogLevel,
  Option,
  Redacted,
  TestClock,
  Tracer
} from "effect"
import type * as Http from "node:http"
import { serve } from "./LoopbackServer.js"

const secret = "s3cr:t%+é"
const client = ClientConfig.make({ clientId: "my client", clientSecret: Redacted.make(secret) })
const provider = Provider.make({
  name: "example",
  tokenEndpoint: "https://auth.example/token",
  revocationEndpoint: "https://auth.example/revoke",
  defaultTokenLifetime: Duration.hours(2)
})
const refreshToken = "rt-secret-value"

interface Answer {
  readonly status?: number
  readonly body?: string
  readonly headers?: Record<string, string>
}

/** A fake HttpClient answering each request with the next answer, recording the requests. */
const fake = (answers: ReadonlyArray<Answer | "drop">) => {
  const requests: Array<HttpClientRequest.HttpClientRequest> = []
  const httpClient = HttpClient.make((request) =>
    Effect.suspend(() => {
      requests.push(request)
      const answer = answers[Math.min(requests.length - 1, answers.length - 1)]
      if (answer === "drop") {
        return Effect.fail(new HttpClientError.RequestError({ request, reason: "Transport" }))
      }
      return Effect.succeed(
        HttpClientResponse.fromWeb(
          request,
          new Response(answer.body ?? "", {
            status: answer.status ?? 200,
            headers: { "content-type": "application/json", ...answer.headers }
          })
        )
      )
    })
  )
  return { httpClient, requests }
}

const ok = (body: Record<string, unknown>): Answer => ({ body: JSON.stringify(body) })
const bearer = { access_token: "at-secret-value", token_type: "Bearer", expires_in: 3600 }

const run = (
  answers: ReadonlyArray<Answer | "drop">,
  grant: Grant.Grant = Grant.ClientCredentials(Scopes.make("read")),
  options: { provider?: Provider.Provider<string> } = {}
) => {
  const { httpClient, requests } = fake(answers)
  return TokenEndpoint.make({ provider: options.provider ?? provider, client }).pipe(
    Effect.flatMap((endpoint) => endpoint.request(grant, { requested: Scopes.make("read") })),
    Effect.provideService(HttpClient.HttpClient, httpClient),
    Effect.map((token) => ({ token, requests })),
    Effect.mapError((error) => ({ error, requests }))
  )
}

const failure = (answers: ReadonlyArray<Answer | "drop">, grant?: Grant.Grant) =>
  Effect.flip(run(answers, grant)).pipe(
    Effect.tap(({ error }) => {
      // No secret ever appears in an error.
      for (const text of [error.message, JSON.stringify(error), String(error)]) {
        for (const secretValue of [secret, "at-secret-value", refreshToken, "code-secret", "verifier-secret"]) {
          assert.notInclude(text, secretValue)
        }
      }
    })
  )

const bodyOf = (request: HttpClientRequest.HttpClientRequest) =>
  request.body._tag === "Uint8Array"
    ? new URLSearchParams(new TextDecoder().decode(request.body.body))
    : new URLSearchParams()

const refresh = Grant.RefreshToken(Redacted.make(refreshToken))
const code = Grant.AuthorizationCode({
  code: Redacted.make("code-secret"),
  codeVerifier: Redacted.make("verifier-secret"),
  redirectUri: "http://127.0.0.1:1/cb"
})

describe("TokenEndpoint", () => {
  describe("requests", () => {
    it.effect("client_secret_basic form-encodes the id and secret (RFC 6749 §2.3.1)", () =>
      Effect.gen(function*() {
        const { requests } = yield* run([ok(bearer)])
        const request = requests[0]
        assert.strictEqual(request.method, "POST")
        assert.strictEqual(request.headers["accept"], "application/json")
        const expected = Buffer.from("my+client:s3cr%3At%25%2B%C3%A9").toString("base64")
        assert.strictEqual(request.headers["authorization"], `Basic ${expected}`)
        const body = bodyOf(request)
        assert.strictEqual(body.get("grant_type"), "client_credentials")
        assert.strictEqual(body.get("scope"), "read")
        assert.isNull(body.get("client_secret"))
      }))

    it.effect("client_secret_post sends the credentials in the body", () =>
      Effect.gen(function*() {
        const { requests } = yield* run([ok(bearer)], undefined, {
          provider: { ...provider, clientAuthentication: "client_secret_post" }
        })
        const body = bodyOf(requests[0])
        assert.strictEqual(body.get("client_id"), "my client")
        assert.strictEqual(body.get("client_secret"), secret)
        assert.isUndefined(requests[0].headers["authorization"])
      }))

    it.effect("none sends only the client id", () =>
      Effect.gen(function*() {
        const { requests } = yield* run([ok(bearer)], undefined, {
          provider: { ...provider, clientAuthentication: "none" }
        })
        assert.strictEqual(bodyOf(requests[0]).get("client_id"), "my client")
        assert.isNull(bodyOf(requests[0]).get("client_secret"))
      }))

    it.effect("refuses an http endpoint that is not loopback, sending nothing", () =>
      Effect.gen(function*() {
        const { error, requests } = yield* Effect.flip(run([ok(bearer)], undefined, {
          provider: { ...provider, tokenEndpoint: "http://auth.example/token" }
        }))
        assert.strictEqual(error._tag, "@effect-oauth/ConfigurationError")
        assert.strictEqual(requests.length, 0)
      }))
  })

  describe("responses (BEHAVIOUR.md §2)", () => {
    it.effect("502/503/504 with an HTML body: transient, with a sanitized preview", () =>
      Effect.gen(function*() {
        const fiber = yield* Effect.fork(
          failure([{
            status: 502,
            body: "<html><h1>Bad   Gateway</h1></html>",
            headers: { "content-type": "text/html" }
          }])
        )
        yield* TestClock.adjust(Duration.minutes(1))
        const { error, requests } = yield* Fiber.join(fiber)
        assert.strictEqual(error.reason, "Transient")
        if (error.reason === "Transient") assert.strictEqual(error.description, "Bad Gateway")
        assert.strictEqual(requests.length, 4)
      }))

    it.effect("200 that is not JSON, or not an object, is invalid", () =>
      Effect.gen(function*() {
        assert.strictEqual(
          ((yield* failure([{ body: "<html>ok</html>" }])).error as OAuthError.TokenRequestError).kind,
          "NotJson"
        )
        assert.strictEqual(
          ((yield* failure([{ body: "[1,2]" }])).error as OAuthError.TokenRequestError).kind,
          "NotObject"
        )
        assert.strictEqual(
          ((yield* failure([{ body: "\"token\"" }])).error as OAuthError.TokenRequestError).kind,
          "NotObject"
        )
      }))

    it.effect("a refresh answered with truncated JSON is retried once with the same refresh token", () =>
      Effect.gen(function*() {
        const fiber = yield* Effect.fork(
          run([{ body: "{\"access_tok" }, ok({ ...bearer, refresh_token: "rt-2" })], refresh)
        )
        yield* TestClock.adjust(Duration.seconds(5))
        const { requests, token } = yield* Fiber.join(fiber)
        assert.strictEqual(requests.length, 2)
        assert.strictEqual(bodyOf(requests[1]).get("refresh_token"), refreshToken)
        assert.strictEqual(Redacted.value(Option.getOrThrow(token.refreshToken)), "rt-2")
      }))

    it.effect("a refresh whose connection dropped is retried with the same refresh token", () =>
      Effect.gen(function*() {
        const fiber = yield* Effect.fork(run(["drop", ok(bearer)], refresh))
        yield* TestClock.adjust(Duration.seconds(5))
        const { requests } = yield* Fiber.join(fiber)
        assert.strictEqual(requests.length, 2)
        assert.strictEqual(bodyOf(requests[1]).get("refresh_token"), refreshToken)
      }))

    it.effect("a refresh garbled twice fails", () =>
      Effect.gen(function*() {
        const fiber = yield* Effect.fork(failure([{ body: "{" }, { body: "{" }], refresh))
        yield* TestClock.adjust(Duration.seconds(5))
        const { requests } = yield* Fiber.join(fiber)
        assert.strictEqual(requests.length, 2)
      }))

    it.effect("200 with error and no access_token is the OAuth error", () =>
      Effect.gen(function*() {
        const { error } = yield* failure([ok({ error: "invalid_scope", error_description: "nope" })])
        assert.strictEqual(error.reason, "ErrorResponse")
      }))

    const invalidField = (name: string, body: Record<string, unknown>, field: string) =>
      it.effect(name, () =>
        Effect.gen(function*() {
          const { error } = yield* failure([ok(body)])
          assert.strictEqual(error.reason, "InvalidResponse")
          if (error.reason === "InvalidResponse") assert.strictEqual(error.field, field)
        }))

    invalidField("access_token missing is invalid, naming the field", { token_type: "Bearer" }, "access_token")
    invalidField("access_token empty is invalid", { ...bearer, access_token: "" }, "access_token")
    invalidField("access_token not a string is invalid", { ...bearer, access_token: 42 }, "access_token")
    invalidField("token_type missing is invalid", { access_token: "at-secret-value" }, "token_type")
    invalidField("token_type mac is invalid", { ...bearer, token_type: "mac" }, "token_type")
    invalidField("expires_in \"3600abc\" is invalid", { ...bearer, expires_in: "3600abc" }, "expires_in")
    invalidField("expires_in negative is invalid", { ...bearer, expires_in: -1 }, "expires_in")
    invalidField("expires_in as a digit string too long to be finite is invalid", {
      ...bearer,
      expires_in: "9".repeat(400)
    }, "expires_in")
    invalidField("expires_in boolean is invalid", { ...bearer, expires_in: true }, "expires_in")
    invalidField("refresh_token null is invalid", { ...bearer, refresh_token: null }, "refresh_token")
    invalidField("refresh_token empty is invalid", { ...bearer, refresh_token: "" }, "refresh_token")
    invalidField("refresh_token not a string is invalid", { ...bearer, refresh_token: 7 }, "refresh_token")
    invalidField("a scope outside the grammar is invalid", { ...bearer, scope: "a\"b" }, "scope")

    it.effect("expires_in NaN or infinite (as JSON can carry them) is invalid", () =>
      Effect.gen(function*() {
        for (const raw of ["1e400", "-1e400"]) {
          const { error } = yield* failure([{ body: `{"access_token":"x","token_type":"bearer","expires_in":${raw}}` }])
          assert.strictEqual(error.reason, "InvalidResponse")
        }
      }))

    it.effect("BEARER in any case is accepted; unknown members ignored; scope recorded", () =>
      Effect.gen(function*() {
        const { token } = yield* run([
          ok({ ...bearer, token_type: "BEARER", extra: { nested: true }, scope: "read write" })
        ])
        assert.strictEqual(token.tokenType, "Bearer")
        assert.strictEqual(Scopes.format(token.scopes), "read write")
      }))

    it.effect("expires_in as a numeric string is accepted; 0 is already expired", () =>
      Effect.gen(function*() {
        const { token } = yield* run([ok({ ...bearer, expires_in: "3600" })])
        assert.deepStrictEqual(token.expiresAt, Option.some(token.issuedAt + 3_600_000))
        const zero = yield* run([ok({ ...bearer, expires_in: 0 })])
        assert.deepStrictEqual(zero.token.expiresAt, Option.some(zero.token.issuedAt))
      }))

    it.effect("expires_in absent: the provider's default lifetime, else none", () =>
      Effect.gen(function*() {
        const { token } = yield* run([ok({ access_token: "x", token_type: "bearer" })])
        assert.deepStrictEqual(token.expiresAt, Option.some(token.issuedAt + 7_200_000))
        const bare = yield* run([ok({ access_token: "x", token_type: "bearer" })], undefined, {
          provider: { ...provider, defaultTokenLifetime: Option.none() }
        })
        assert.isTrue(Option.isNone(bare.token.expiresAt))
      }))

    it.effect("a 10-year expires_in is accepted", () =>
      Effect.gen(function*() {
        const { token } = yield* run([ok({ ...bearer, expires_in: 10 * 365 * 86400 })])
        assert.isTrue(Option.isSome(token.expiresAt))
      }))

    it.effect("scope absent: the requested scopes are recorded", () =>
      Effect.gen(function*() {
        const { token } = yield* run([ok(bearer)])
        assert.strictEqual(Scopes.format(token.scopes), "read")
      }))

    it.effect("400 invalid_grant on a code exchange is never retried", () =>
      Effect.gen(function*() {
        const { error, requests } = yield* failure(
          [{ status: 400, body: JSON.stringify({ error: "invalid_grant" }) }],
          code
        )
        assert.strictEqual(error.reason, "ErrorResponse")
        assert.strictEqual(requests.length, 1)
      }))

    it.effect("a code exchange is not retried even after a 503", () =>
      Effect.gen(function*() {
        const { error, requests } = yield* failure([{ status: 503, body: "busy" }], code)
        assert.strictEqual(error.reason, "Transient")
        assert.strictEqual(requests.length, 1)
      }))

    it.effect("400/401 invalid_client is a fatal client-authentication error", () =>
      Effect.gen(function*() {
        for (const status of [400, 401]) {
          const { error, requests } = yield* failure([{ status, body: JSON.stringify({ error: "invalid_client" }) }])
          assert.strictEqual(error.reason, "ClientAuthentication")
          assert.strictEqual(requests.length, 1)
        }
      }))

    it.effect("osu!'s 401 invalid_request for a refresh token reads as invalid_grant", () =>
      Effect.gen(function*() {
        const { httpClient } = fake([{
          status: 401,
          body: JSON.stringify({ error: "invalid_request", message: "The refresh token is invalid." })
        }])
        const error = yield* TokenEndpoint.make({ provider: Osu.provider, client }).pipe(
          Effect.flatMap((endpoint) => Effect.flip(endpoint.request(refresh))),
          Effect.provideService(HttpClient.HttpClient, httpClient)
        )
        assert.strictEqual(error.reason, "ErrorResponse")
        if (error.reason === "ErrorResponse") assert.strictEqual(error.error, "invalid_grant")
      }))

    it.effect("4xx without a JSON error is invalid with the status", () =>
      Effect.gen(function*() {
        const { error } = yield* failure([{
          status: 404,
          body: "not found",
          headers: { "content-type": "text/plain" }
        }])
        assert.strictEqual(error.reason, "InvalidResponse")
        if (error.reason === "InvalidResponse") {
          assert.strictEqual(error.kind, "UnexpectedStatus")
          assert.strictEqual(error.status, 404)
        }
      }))

    it.effect("429 with Retry-After in seconds waits at least that long", () =>
      Effect.gen(function*() {
        const fiber = yield* Effect.fork(run([{ status: 429, headers: { "retry-after": "20" } }, ok(bearer)]))
        yield* TestClock.adjust(Duration.seconds(19))
        assert.isTrue(Option.isNone(yield* Fiber.poll(fiber)))
        yield* TestClock.adjust(Duration.seconds(2))
        const { requests } = yield* Fiber.join(fiber)
        assert.strictEqual(requests.length, 2)
      }))

    it.effect("429 with Retry-After as an HTTP date waits until then", () =>
      Effect.gen(function*() {
        const at = new Date(30_000).toUTCString()
        const fiber = yield* Effect.fork(run([{ status: 429, headers: { "retry-after": at } }, ok(bearer)]))
        yield* TestClock.adjust(Duration.seconds(29))
        assert.isTrue(Option.isNone(yield* Fiber.poll(fiber)))
        yield* TestClock.adjust(Duration.seconds(2))
        assert.strictEqual((yield* Fiber.join(fiber)).requests.length, 2)
      }))

    it.effect("429 without Retry-After backs off and retries", () =>
      Effect.gen(function*() {
        const fiber = yield* Effect.fork(run([{ status: 429 }, ok(bearer)]))
        yield* TestClock.adjust(Duration.seconds(5))
        assert.strictEqual((yield* Fiber.join(fiber)).requests.length, 2)
      }))

    it.effect("500 server_error and 503 temporarily_unavailable are transient and retried", () =>
      Effect.gen(function*() {
        const fiber = yield* Effect.fork(run([
          { status: 500, body: JSON.stringify({ error: "server_error" }) },
          { status: 503, body: JSON.stringify({ error: "temporarily_unavailable" }) },
          ok(bearer)
        ]))
        yield* TestClock.adjust(Duration.seconds(10))
        assert.strictEqual((yield* Fiber.join(fiber)).requests.length, 3)
      }))

    it.effect("301/302/307 are not followed: invalid response", () =>
      Effect.gen(function*() {
        for (const status of [301, 302, 307]) {
          const { error, requests } = yield* failure([{ status, headers: { location: "https://evil.example/" } }])
          assert.strictEqual((error as OAuthError.TokenRequestError).kind, "Redirect")
          assert.strictEqual(requests.length, 1)
        }
      }))

    it.effect("no answer: each attempt times out, and the deadline ends it", () =>
      Effect.gen(function*() {
        let attempts = 0
        const httpClient = HttpClient.make(() => Effect.suspend(() => (attempts++, Effect.never)))
        const fiber = yield* TokenEndpoint.make({
          provider,
          client,
          attemptTimeout: "10 seconds",
          deadline: "25 seconds"
        }).pipe(
          Effect.flatMap((endpoint) => Effect.flip(endpoint.request(Grant.ClientCredentials(Scopes.make())))),
          Effect.provideService(HttpClient.HttpClient, httpClient),
          Effect.fork
        )
        yield* TestClock.adjust(Duration.seconds(30))
        const error = yield* Fiber.join(fiber)
        assert.strictEqual(error.reason, "Transport")
        if (error.reason === "Transport") assert.strictEqual(error.kind, "Deadline")
        assert.include(error.message, "no answer within 25s, all attempts counted")
        assert.isAtLeast(attempts, 2)
      }))

    it.effect("the 1 MiB cap counts the bytes read, not a declared Content-Length", () =>
      Effect.gen(function*() {
        const { token } = yield* run([{ ...ok(bearer), headers: { "content-length": String(2 * 1024 * 1024) } }])
        assert.strictEqual(Redacted.value(token.accessToken), "at-secret-value")
      }))

    it.effect("Content-Type: Application/JSON; charset=UTF-8 is accepted", () =>
      Effect.gen(function*() {
        const { token } = yield* run([{
          body: JSON.stringify(bearer),
          headers: { "content-type": "Application/JSON; charset=UTF-8" }
        }])
        assert.strictEqual(Redacted.value(token.accessToken), "at-secret-value")
      }))

    it.effect("a refresh response without refresh_token keeps the old one", () =>
      Effect.gen(function*() {
        const first = yield* run([ok({ ...bearer, refresh_token: "rt-1" })])
        const { httpClient } = fake([ok(bearer)])
        const next = yield* TokenEndpoint.make({ provider, client }).pipe(
          Effect.flatMap((endpoint) => endpoint.request(refresh, { previous: first.token })),
          Effect.provideService(HttpClient.HttpClient, httpClient)
        )
        assert.strictEqual(Redacted.value(Option.getOrThrow(next.refreshToken)), "rt-1")
        assert.strictEqual(next.version, first.token.version + 1)
      }))
  })

  describe("over real sockets", () => {
    const request = (url: string, http: Layer.Layer<HttpClient.HttpClient> = NodeHttpClient.layerUndici) =>
      TokenEndpoint.make({ provider: { ...provider, tokenEndpoint: `${url}/token` }, client, maxAttempts: 1 }).pipe(
        Effect.flatMap((endpoint) => Effect.flip(endpoint.request(Grant.ClientCredentials(Scopes.make())))),
        Effect.provide(http)
      )

    for (const [name, http] of [["undici", NodeHttpClient.layerUndici], ["fetch", FetchHttpClient.layer]] as const) {
      it.live(`a redirect is never followed (${name}): its target sees no request`, () =>
        Effect.gen(function*() {
          let hits = 0
          const target = yield* serve((_, res) => {
            hits++
            res.end(JSON.stringify(bearer))
          })
          const origin = yield* serve((_, res) => {
            res.writeHead(307, { location: `${target}/token` })
            res.end()
          })
          const error = yield* request(origin, http)
          assert.strictEqual(error.reason === "InvalidResponse" ? error.kind : error._tag, "Redirect")
          assert.strictEqual(hits, 0)
        }).pipe(Effect.scoped))
    }

    it.live("a streamed body over 1 MiB stops being read", () =>
      Effect.gen(function*() {
        let written = 0
        const origin = yield* serve((_, res) => {
          res.writeHead(200, { "content-type": "application/json" })
          const chunk = Buffer.alloc(64 * 1024, 32)
          const pump = () => {
            while (written < 8 * 1024 * 1024) {
              written += chunk.length
              if (!res.write(chunk)) return void res.once("drain", pump)
            }
            res.end()
          }
          pump()
        })
        const error = yield* request(origin)
        assert.strictEqual((error as OAuthError.TokenRequestError).kind, "BodyTooLarge")
        assert.isBelow(written, 8 * 1024 * 1024)
      }).pipe(Effect.scoped))

    const readBody = (req: Http.IncomingMessage, f: (body: URLSearchParams) => void) => {
      let data = ""
      req.on("data", (chunk) => (data += chunk))
      req.on("end", () => f(new URLSearchParams(data)))
    }

    const refreshAt = (url: string) =>
      TokenEndpoint.make({
        provider: { ...provider, tokenEndpoint: `${url}/token` },
        client,
        backoff: "10 millis"
      }).pipe(
        Effect.flatMap((endpoint) => Effect.either(endpoint.request(refresh))),
        Effect.provide(NodeHttpClient.layerUndici)
      )

    it.live("a refresh whose connection dropped is sent again with the same refresh token", () =>
      Effect.gen(function*() {
        const seen: Array<string | null> = []
        const origin = yield* serve((req, res) =>
          readBody(req, (body) => {
            seen.push(body.get("refresh_token"))
            if (seen.length === 1) {
              req.socket.destroy()
            } else {
              res.writeHead(200, { "content-type": "application/json" })
              res.end(JSON.stringify({ ...bearer, refresh_token: "rt-2" }))
            }
          })
        )
        const result = yield* refreshAt(origin)
        assert.deepStrictEqual(seen, [refreshToken, refreshToken])
        const token = Either.getOrThrow(result)
        assert.strictEqual(Redacted.value(Option.getOrThrow(token.refreshToken)), "rt-2")
      }).pipe(Effect.scoped))

    it.live("a refresh truncated twice is sent twice only", () =>
      Effect.gen(function*() {
        let hits = 0
        const origin = yield* serve((req, res) =>
          readBody(req, () => {
            hits++
            res.writeHead(200, { "content-type": "application/json", "content-length": "500" })
            res.write("{\"access_token\":\"at-")
            setTimeout(() => res.destroy(), 20)
          })
        )
        const result = yield* refreshAt(origin)
        assert.strictEqual(hits, 2)
        const error = Option.getOrThrow(Either.getLeft(result))
        assert.strictEqual(error.reason, "Transport")
        assert.notInclude(JSON.stringify(error) + error.message, secret)
      }).pipe(Effect.scoped))

    it.live("interruption aborts the request", () =>
      Effect.gen(function*() {
        const received = yield* Deferred.make<void>()
        const closed = yield* Deferred.make<void>()
        const origin = yield* serve((_, res) => {
          res.on("close", () => Deferred.unsafeDone(closed, Exit.void))
          Deferred.unsafeDone(received, Exit.void)
        })
        const fiber = yield* Effect.fork(request(origin))
        yield* Deferred.await(received)
        yield* Fiber.interrupt(fiber)
        const aborted = yield* Deferred.await(closed).pipe(Effect.timeout("5 seconds"), Effect.either)
        assert.isTrue(Either.isRight(aborted), "the server saw the connection close")
      }).pipe(Effect.scoped))

    it.live("a dropped connection is a transport error", () =>
      Effect.gen(function*() {
        const origin = yield* serve((req) => req.socket.destroy())
        const error = yield* request(origin)
        assert.strictEqual(error.reason, "Transport")
      }).pipe(Effect.scoped))
  })

  describe("more requests", () => {
    it.effect("the body is form-encoded and no bearer token is sent", () =>
      Effect.gen(function*() {
        const { requests } = yield* run([ok(bearer)])
        assert.strictEqual(requests[0].body.contentType, "application/x-www-form-urlencoded")
        assert.isFalse(String(requests[0].headers["authorization"]).toLowerCase().startsWith("bearer"))
        assert.strictEqual(requests[0].url, "https://auth.example/token")
      }))

    it.effect("a public client sends its id in the body even with client_secret_basic", () =>
      Effect.gen(function*() {
        const { httpClient, requests } = fake([ok(bearer)])
        yield* TokenEndpoint.make({ provider, client: ClientConfig.make({ clientId: "public app" }) }).pipe(
          Effect.flatMap((endpoint) => endpoint.request(Grant.ClientCredentials(Scopes.make()))),
          Effect.provideService(HttpClient.HttpClient, httpClient)
        )
        assert.strictEqual(bodyOf(requests[0]).get("client_id"), "public app")
        assert.isUndefined(requests[0].headers["authorization"])
      }))

    it.effect("http is allowed on loopback hosts and with allowInsecureHttp only", () =>
      Effect.gen(function*() {
        const accepted = [
          "http://127.0.0.1:8080/token",
          "http://127.9.8.7/token",
          "http://[::1]:9/token",
          "http://localhost/token"
        ]
        for (const tokenEndpoint of accepted) {
          const { requests } = yield* run([ok(bearer)], undefined, { provider: { ...provider, tokenEndpoint } })
          assert.strictEqual(requests.length, 1, tokenEndpoint)
        }
        const opted = yield* run([ok(bearer)], undefined, {
          provider: { ...provider, tokenEndpoint: "http://auth.example/token", allowInsecureHttp: true }
        })
        assert.strictEqual(opted.requests.length, 1)
        for (const tokenEndpoint of ["http://127.0.0.1.evil.example/token", "ftp://auth.example/token", "not a url"]) {
          const { error, requests } = yield* Effect.flip(run([ok(bearer)], undefined, {
            provider: { ...provider, tokenEndpoint }
          }))
          assert.strictEqual(error._tag, "@effect-oauth/ConfigurationError", tokenEndpoint)
          assert.strictEqual(requests.length, 0)
        }
      }))
  })

  describe("retries, timeouts and the deadline", () => {
    const runWith = (
      answers: ReadonlyArray<Answer | "drop">,
      grant: Grant.Grant,
      options: Partial<TokenEndpoint.Options> = {}
    ) => {
      const { httpClient, requests } = fake(answers)
      return TokenEndpoint.make({ provider, client, ...options }).pipe(
        Effect.flatMap((endpoint) => Effect.either(endpoint.request(grant))),
        Effect.provideService(HttpClient.HttpClient, httpClient),
        Effect.map((result) => ({ result, requests }))
      )
    }
    const cc = Grant.ClientCredentials(Scopes.make())

    it.effect("transient failures stop after maxAttempts", () =>
      Effect.gen(function*() {
        const fiber = yield* Effect.fork(runWith([{ status: 503, body: "busy" }], cc, { maxAttempts: 2 }))
        yield* TestClock.adjust(Duration.minutes(1))
        const { requests, result } = yield* Fiber.join(fiber)
        assert.strictEqual(requests.length, 2)
        assert.strictEqual(Option.getOrThrow(Either.getLeft(result)).reason, "Transient")
      }))

    it.effect("the backoff grows exponentially, with jitter", () =>
      Effect.gen(function*() {
        const { httpClient, requests } = fake([{ status: 503, body: "busy" }])
        const fiber = yield* TokenEndpoint.make({ provider, client, backoff: "1 second" }).pipe(
          Effect.flatMap((endpoint) => Effect.flip(endpoint.request(cc))),
          Effect.provideService(HttpClient.HttpClient, httpClient),
          Effect.fork
        )
        // Waits of 1 s, 2 s and 4 s, each within ±20%.
        const at = function*(millis: number, expected: number) {
          yield* TestClock.setTime(millis)
          assert.strictEqual(requests.length, expected, `at ${millis} ms`)
        }
        yield* at(0, 1)
        yield* at(700, 1)
        yield* at(1300, 2)
        yield* at(2300, 2)
        yield* at(3700, 3)
        yield* at(5500, 3)
        yield* at(8500, 4)
        yield* Fiber.join(fiber)
      }))

    it.effect("a Retry-After past the deadline fails at once with the rate limit", () =>
      Effect.gen(function*() {
        const { requests, result } = yield* runWith([{ status: 429, headers: { "retry-after": "3600" } }], cc)
        assert.strictEqual(requests.length, 1)
        const error = Option.getOrThrow(Either.getLeft(result))
        assert.strictEqual(error.reason, "RateLimited")
        if (error.reason === "RateLimited") assert.strictEqual(error.retryAfterMillis, 3_600_000)
      }))

    it.effect("a 503 with Retry-After waits at least that long", () =>
      Effect.gen(function*() {
        const fiber = yield* Effect.fork(runWith([
          { status: 503, body: "busy", headers: { "retry-after": "30" } },
          ok(bearer)
        ], cc))
        yield* TestClock.adjust(Duration.seconds(29))
        assert.isTrue(Option.isNone(yield* Fiber.poll(fiber)))
        yield* TestClock.adjust(Duration.seconds(2))
        const { requests, result } = yield* Fiber.join(fiber)
        assert.strictEqual(requests.length, 2)
        assert.isTrue(Either.isRight(result))
      }))

    it.effect("a hung attempt times out and the next attempt may succeed", () =>
      Effect.gen(function*() {
        let attempts = 0
        const httpClient = HttpClient.make((request) =>
          Effect.suspend(() =>
            attempts++ === 0
              ? Effect.never
              : Effect.succeed(HttpClientResponse.fromWeb(
                request,
                new Response(JSON.stringify(bearer), { headers: { "content-type": "application/json" } })
              ))
          )
        )
        const fiber = yield* TokenEndpoint.make({ provider, client, attemptTimeout: "5 seconds" }).pipe(
          Effect.flatMap((endpoint) => endpoint.request(cc)),
          Effect.provideService(HttpClient.HttpClient, httpClient),
          Effect.fork
        )
        yield* TestClock.adjust(Duration.seconds(4))
        assert.isTrue(Option.isNone(yield* Fiber.poll(fiber)))
        yield* TestClock.adjust(Duration.seconds(5))
        const token = yield* Fiber.join(fiber)
        assert.strictEqual(Redacted.value(token.accessToken), "at-secret-value")
        assert.strictEqual(attempts, 2)
      }))

    it.effect("a single hung attempt is a Timeout", () =>
      Effect.gen(function*() {
        const httpClient = HttpClient.make(() => Effect.never)
        const fiber = yield* TokenEndpoint.make({ provider, client, attemptTimeout: "5 seconds", maxAttempts: 1 }).pipe(
          Effect.flatMap((endpoint) => Effect.flip(endpoint.request(cc))),
          Effect.provideService(HttpClient.HttpClient, httpClient),
          Effect.fork
        )
        yield* TestClock.adjust(Duration.seconds(6))
        const error = yield* Fiber.join(fiber)
        assert.strictEqual(error.reason === "Transport" ? error.kind : error._tag, "Timeout")
      }))

    it.effect("a refresh whose outcome is unknown is sent again once only", () =>
      Effect.gen(function*() {
        for (const answers of [["drop", "drop"], ["drop", { body: "{\"access" }], [{ body: "{" }, "drop"]] as const) {
          const fiber = yield* Effect.fork(runWith([...answers, ok(bearer)], refresh))
          yield* TestClock.adjust(Duration.minutes(1))
          const { requests, result } = yield* Fiber.join(fiber)
          assert.strictEqual(requests.length, 2)
          assert.isTrue(Either.isLeft(result))
          assert.deepStrictEqual(requests.map((r) => bodyOf(r).get("refresh_token")), [refreshToken, refreshToken])
        }
      }))

    it.effect("a refresh still retries 5xx answers (the server did not act on them)", () =>
      Effect.gen(function*() {
        const fiber = yield* Effect.fork(
          runWith([{ status: 502, body: "x" }, { status: 503, body: "x" }, "drop", ok(bearer)], refresh)
        )
        yield* TestClock.adjust(Duration.minutes(1))
        const { requests, result } = yield* Fiber.join(fiber)
        assert.strictEqual(requests.length, 4)
        assert.isTrue(Either.isRight(result))
      }))

    it.effect("a device-code poll is never retried", () =>
      Effect.gen(function*() {
        for (const answer of ["drop", { status: 503, body: "busy" }, { status: 429 }] as const) {
          const { requests, result } = yield* runWith([answer, ok(bearer)], Grant.DeviceCode(Redacted.make("dc")))
          assert.strictEqual(requests.length, 1)
          assert.isTrue(Either.isLeft(result))
        }
      }))

    it.effect("a code exchange whose connection dropped is not retried", () =>
      Effect.gen(function*() {
        const { error, requests } = yield* failure(["drop", ok(bearer)], code)
        assert.strictEqual(error.reason, "Transport")
        assert.strictEqual(requests.length, 1)
      }))

    it.effect("a timed-out code exchange does not say it may be retried (codes are single use)", () =>
      Effect.gen(function*() {
        const timedOut = (grant: Grant.Grant) =>
          TokenEndpoint.make({ provider, client, attemptTimeout: "5 seconds", maxAttempts: 1 }).pipe(
            Effect.flatMap((endpoint) => Effect.flip(endpoint.request(grant))),
            Effect.provideService(HttpClient.HttpClient, HttpClient.make(() => Effect.never)),
            Effect.fork
          )
        const exchange = yield* timedOut(code)
        const other = yield* timedOut(cc)
        yield* TestClock.adjust(Duration.seconds(6))
        const [exchangeError, otherError] = [yield* Fiber.join(exchange), yield* Fiber.join(other)]
        assert.strictEqual(
          exchangeError.reason === "Transport" ? exchangeError.kind : exchangeError._tag,
          "Timeout"
        )
        assert.notInclude(exchangeError.message, "retried")
        assert.include(exchangeError.message, "single use")
        assert.isFalse(OAuthError.isTransient(exchangeError))
        assert.include(otherError.message, "may be retried")
        assert.isTrue(OAuthError.isTransient(otherError))
      }))
  })

  describe("more responses", () => {
    it.effect("a 5xx JSON body without error is not echoed in the preview", () =>
      Effect.gen(function*() {
        const { error } = yield* failure(
          [{ status: 500, body: JSON.stringify({ leaked: "at-secret-value" }) }],
          code
        )
        assert.strictEqual(error.reason, "Transient")
        if (error.reason === "Transient") assert.strictEqual(error.description, undefined)
      }))

    it.effect("an HTML preview is stripped of tags and scripts, collapsed and at most 100 characters", () =>
      Effect.gen(function*() {
        const html = `<html><head><style>p{}</style><script>var x = 1</script></head>` +
          `<body><p>Service\n\n   Unavailable</p>${"<b>more</b> ".repeat(100)}</body></html>`
        const { error } = yield* failure([{ status: 503, body: html, headers: { "content-type": "text/html" } }], code)
        if (error.reason !== "Transient") return assert.fail(error._tag)
        const preview = error.description ?? ""
        assert.isTrue(preview.startsWith("Service Unavailable more more"))
        assert.isAtMost(preview.length, 100)
        assert.notInclude(preview, "<")
        assert.notInclude(error.description, "var x")
      }))

    it.effect("server text echoing a secret the client sent has it replaced with <redacted>", () =>
      Effect.gen(function*() {
        const echo = `you sent ${refreshToken} as ${secret} (${encodeURIComponent(secret)})`
        const described = yield* failure([{
          status: 400,
          body: JSON.stringify({ error: "invalid_request", error_description: echo })
        }], refresh)
        if (described.error.reason !== "ErrorResponse") return assert.fail(described.error._tag)
        assert.strictEqual(described.error.description, "you sent <redacted> as <redacted> (<redacted>)")
        // osu! puts whole sentences in `error`; the message carries it too.
        const sentence = yield* failure(
          [{ status: 400, body: JSON.stringify({ error: `no ${refreshToken}` }) }],
          refresh
        )
        assert.include(sentence.error.message, "no <redacted>")
        const page = yield* failure(
          [{ status: 503, body: `<html><p>code-secret / verifier-secret / ${secret}</p></html>` }],
          code
        )
        if (page.error.reason !== "Transient") return assert.fail(page.error._tag)
        assert.strictEqual(page.error.description, "<redacted> / <redacted> / <redacted>")
        const invalidClient = yield* failure(
          [{ status: 401, body: JSON.stringify({ error: "invalid_client", error_description: `bad ${secret}` }) }]
        )
        assert.include(invalidClient.error.message, "bad <redacted>")
      }))

    it.effect("a refresh's error echoing the token it replaces has it redacted", () =>
      Effect.gen(function*() {
        const { token: previous } = yield* run([ok({ ...bearer, refresh_token: refreshToken })])
        const { httpClient } = fake([{
          status: 400,
          body: JSON.stringify({ error: "invalid_grant", error_description: "at-secret-value was revoked" })
        }])
        const error = yield* TokenEndpoint.make({ provider, client }).pipe(
          Effect.flatMap((endpoint) => Effect.flip(endpoint.request(refresh, { previous }))),
          Effect.provideService(HttpClient.HttpClient, httpClient)
        )
        assert.strictEqual(error.reason === "ErrorResponse" ? error.description : error._tag, "<redacted> was revoked")
      }))

    it.effect("400 with an RFC error is an ErrorResponse carrying the status and description", () =>
      Effect.gen(function*() {
        const { error } = yield* failure([{
          status: 400,
          body: JSON.stringify({ error: "invalid_scope", error_description: "too wide", error_uri: "https://x/doc" })
        }])
        if (error.reason !== "ErrorResponse") return assert.fail(error._tag)
        assert.strictEqual(error.status, 400)
        assert.strictEqual(error.description, "too wide")
        assert.strictEqual(error.uri, "https://x/doc")
      }))

    it.effect("a 4xx with a JSON body but no error member is an unexpected status", () =>
      Effect.gen(function*() {
        const { error } = yield* failure([{ status: 403, body: JSON.stringify({ message: "no" }) }])
        assert.strictEqual(error.reason === "InvalidResponse" ? error.kind : error._tag, "UnexpectedStatus")
      }))

    it.effect("the provider's classifier runs before the standard reading", () =>
      Effect.gen(function*() {
        const { httpClient } = fake([{ status: 418, body: JSON.stringify({ oops: "teapot" }) }])
        const classified: Array<number> = []
        const error = yield* TokenEndpoint.make({
          provider: {
            ...provider,
            classifyError: (status, body) => {
              classified.push(status)
              return body.oops === "teapot" ? Option.some({ error: "invalid_grant" }) : Option.none()
            }
          },
          client
        }).pipe(
          Effect.flatMap((endpoint) => Effect.flip(endpoint.request(refresh))),
          Effect.provideService(HttpClient.HttpClient, httpClient)
        )
        assert.deepStrictEqual(classified, [418])
        assert.strictEqual(error.reason === "ErrorResponse" ? error.error : error._tag, "invalid_grant")
      }))

    it.effect("status 0 (a browser's opaque redirect) is a redirect", () =>
      Effect.gen(function*() {
        const httpClient = HttpClient.make((request) =>
          Effect.succeed(HttpClientResponse.fromWeb(request, Response.error()))
        )
        const error = yield* TokenEndpoint.make({ provider, client }).pipe(
          Effect.flatMap((endpoint) => Effect.flip(endpoint.request(code))),
          Effect.provideService(HttpClient.HttpClient, httpClient)
        )
        assert.strictEqual(error.reason === "InvalidResponse" ? error.kind : error._tag, "Redirect")
      }))

    it.effect("a client piped through filterStatusOk still gives the typed error", () =>
      Effect.gen(function*() {
        const { httpClient } = fake([{ status: 400, body: JSON.stringify({ error: "invalid_grant" }) }])
        const error = yield* TokenEndpoint.make({ provider, client }).pipe(
          Effect.flatMap((endpoint) => Effect.flip(endpoint.request(code))),
          Effect.provideService(HttpClient.HttpClient, HttpClient.filterStatusOk(httpClient))
        )
        assert.strictEqual(error.reason === "ErrorResponse" ? error.error : error._tag, "invalid_grant")
      }))

    it.effect("a body longer than its Content-Length claims is still capped", () =>
      Effect.gen(function*() {
        const { error } = yield* failure([{
          body: JSON.stringify({ ...bearer, pad: "x".repeat(1024 * 1024) }),
          headers: { "content-length": "10" }
        }])
        assert.strictEqual(error.reason === "InvalidResponse" ? error.kind : error._tag, "BodyTooLarge")
      }))

    it.effect("a streamed body over 1 MiB without Content-Length stops being read", () =>
      Effect.gen(function*() {
        let pulled = 0
        const stream = new ReadableStream<Uint8Array>({
          pull: (controller) => {
            pulled++
            if (pulled > 1000) return controller.close()
            controller.enqueue(new Uint8Array(64 * 1024).fill(32))
          }
        })
        const httpClient = HttpClient.make((request) =>
          Effect.succeed(HttpClientResponse.fromWeb(request, new Response(stream, { status: 200 })))
        )
        const error = yield* TokenEndpoint.make({ provider, client }).pipe(
          Effect.flatMap((endpoint) => Effect.flip(endpoint.request(code))),
          Effect.provideService(HttpClient.HttpClient, httpClient)
        )
        assert.strictEqual(error.reason === "InvalidResponse" ? error.kind : error._tag, "BodyTooLarge")
        assert.isBelow(pulled, 40)
      }))
  })

  describe("observability", () => {
    it.effect("the span names the grant and provider, and no secret", () =>
      Effect.gen(function*() {
        const spans: Array<Tracer.Span> = []
        const native = yield* Effect.tracer
        const tracer = Tracer.make({
          span: (...args) => {
            const span = native.span(...args)
            spans.push(span)
            return span
          },
          context: native.context
        })
        yield* run([ok(bearer)], refresh).pipe(Effect.withTracer(tracer))
        const span = spans.find((s) => s.name === "TokenEndpoint.request")
        assert.isDefined(span)
        assert.strictEqual(span!.attributes.get("oauth.grant_type"), "RefreshToken")
        assert.strictEqual(span!.attributes.get("oauth.provider"), "example")
        for (const s of spans) {
          const text = JSON.stringify([...s.attributes.entries()])
          for (const value of [secret, refreshToken, "at-secret-value"]) assert.notInclude(text, value)
        }
      }))

    it.effect("logs are annotated with the grant and provider and carry no secret", () =>
      Effect.gen(function*() {
        const lines: Array<string> = []
        const logger = Logger.make(({ annotations, message }) => {
          lines.push(JSON.stringify({ message, annotations: Object.fromEntries(annotations) }))
        })
        const fiber = yield* run([{ status: 503, body: `busy ${secret}` }, ok(bearer)], refresh).pipe(
          Effect.provide(Logger.replace(Logger.defaultLogger, logger)),
          Logger.withMinimumLogLevel(LogLevel.Debug),
          Effect.fork
        )
        yield* TestClock.adjust(Duration.minutes(1))
        yield* Fiber.join(fiber)
        assert.isAtLeast(lines.length, 1)
        assert.include(lines[0], "\"oauth.grant_type\":\"RefreshToken\"")
        assert.include(lines[0], "\"oauth.provider\":\"example\"")
        for (const line of lines) {
          for (const value of [secret, refreshToken, "at-secret-value"]) assert.notInclude(line, value)
        }
      }))
  })

  describe("with a fetch-based client", () => {
    it.effect("redirects are set to manual, keeping the caller's other fetch options", () =>
      Effect.gen(function*() {
        const inits: Array<RequestInit | undefined> = []
        const fakeFetch = (_: string | URL | Request, init?: RequestInit) => {
          inits.push(init)
          return Promise.resolve(
            new Response(JSON.stringify(bearer), { headers: { "content-type": "application/json" } })
          )
        }
        yield* TokenEndpoint.make({ provider, client }).pipe(
          Effect.flatMap((endpoint) => endpoint.request(Grant.ClientCredentials(Scopes.make()))),
          Effect.provide(FetchHttpClient.layer),
          Effect.provideService(FetchHttpClient.Fetch, fakeFetch as typeof fetch),
          Effect.provideService(FetchHttpClient.RequestInit, { credentials: "omit" })
        )
        assert.strictEqual(inits[0]?.redirect, "manual")
        assert.strictEqual(inits[0]?.credentials, "omit")
      }))
  })

  it.effect("revoke posts RFC 7009 with client authentication", () =>
    Effect.gen(function*() {
      const { httpClient, requests } = fake([{ status: 200, body: "" }])
      yield* TokenEndpoint.make({ provider, client }).pipe(
        Effect.flatMap((endpoint) => endpoint.revoke(Redacted.make(refreshToken), { hint: "refresh_token" })),
        Effect.provideService(HttpClient.HttpClient, httpClient)
      )
      assert.strictEqual(requests[0].url, "https://auth.example/revoke")
      assert.strictEqual(bodyOf(requests[0]).get("token_type_hint"), "refresh_token")
      assert.isDefined(requests[0].headers["authorization"])
    }))
})
