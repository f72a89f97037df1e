import type { OAuthError } from "@effect-oauth/core"
import { ClientConfig, Grant, Provider, Scopes, TokenEndpoint } from "@effect-oauth/core"
import * as Osu from "@effect-oauth/core/providers/Osu"
import type { HttpClientRequest } from "@effect/platform"
import { HttpClient, HttpClientError, HttpClientResponse } from "@effect/platform"
import { NodeHttpClient } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Fiber, Option, Redacted, TestClock } from "effect"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"

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
        assert.strictEqual(error._tag, "InvalidConfiguration")
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
        assert.strictEqual(error._tag, "TransientServerError")
        if (error._tag === "TransientServerError") assert.strictEqual(error.preview, "Bad Gateway")
        assert.strictEqual(requests.length, 4)
      }))

    it.effect("200 that is not JSON, or not an object, is invalid", () =>
      Effect.gen(function*() {
        assert.strictEqual(
          ((yield* failure([{ body: "<html>ok</html>" }])).error as OAuthError.InvalidTokenResponse).reason,
          "NotJson"
        )
        assert.strictEqual(
          ((yield* failure([{ body: "[1,2]" }])).error as OAuthError.InvalidTokenResponse).reason,
          "NotObject"
        )
        assert.strictEqual(
          ((yield* failure([{ body: "\"token\"" }])).error as OAuthError.InvalidTokenResponse).reason,
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
        assert.strictEqual(error._tag, "ErrorResponse")
      }))

    const invalidField = (name: string, body: Record<string, unknown>, field: string) =>
      it.effect(name, () =>
        Effect.gen(function*() {
          const { error } = yield* failure([ok(body)])
          assert.strictEqual(error._tag, "InvalidTokenResponse")
          if (error._tag === "InvalidTokenResponse") assert.strictEqual(error.field, field)
        }))

    invalidField("access_token missing is invalid, naming the field", { token_type: "Bearer" }, "access_token")
    invalidField("access_token empty is invalid", { ...bearer, access_token: "" }, "access_token")
    invalidField("access_token not a string is invalid", { ...bearer, access_token: 42 }, "access_token")
    invalidField("token_type missing is invalid", { access_token: "at-secret-value" }, "token_type")
    invalidField("token_type mac is invalid", { ...bearer, token_type: "mac" }, "token_type")
    invalidField("expires_in \"3600abc\" is invalid", { ...bearer, expires_in: "3600abc" }, "expires_in")
    invalidField("expires_in negative is invalid", { ...bearer, expires_in: -1 }, "expires_in")
    invalidField("expires_in boolean is invalid", { ...bearer, expires_in: true }, "expires_in")
    invalidField("refresh_token null is invalid", { ...bearer, refresh_token: null }, "refresh_token")
    invalidField("refresh_token empty is invalid", { ...bearer, refresh_token: "" }, "refresh_token")
    invalidField("refresh_token not a string is invalid", { ...bearer, refresh_token: 7 }, "refresh_token")
    invalidField("a scope outside the grammar is invalid", { ...bearer, scope: "a\"b" }, "scope")

    it.effect("expires_in NaN or infinite (as JSON can carry them) is invalid", () =>
      Effect.gen(function*() {
        for (const raw of ["1e400", "-1e400"]) {
          const { error } = yield* failure([{ body: `{"access_token":"x","token_type":"bearer","expires_in":${raw}}` }])
          assert.strictEqual(error._tag, "InvalidTokenResponse")
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
        assert.strictEqual(error._tag, "ErrorResponse")
        assert.strictEqual(requests.length, 1)
      }))

    it.effect("a code exchange is not retried even after a 503", () =>
      Effect.gen(function*() {
        const { error, requests } = yield* failure([{ status: 503, body: "busy" }], code)
        assert.strictEqual(error._tag, "TransientServerError")
        assert.strictEqual(requests.length, 1)
      }))

    it.effect("400/401 invalid_client is a fatal client-authentication error", () =>
      Effect.gen(function*() {
        for (const status of [400, 401]) {
          const { error, requests } = yield* failure([{ status, body: JSON.stringify({ error: "invalid_client" }) }])
          assert.strictEqual(error._tag, "ClientAuthenticationFailed")
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
        assert.strictEqual(error._tag, "ErrorResponse")
        if (error._tag === "ErrorResponse") assert.strictEqual(error.error, "invalid_grant")
      }))

    it.effect("4xx without a JSON error is invalid with the status", () =>
      Effect.gen(function*() {
        const { error } = yield* failure([{
          status: 404,
          body: "not found",
          headers: { "content-type": "text/plain" }
        }])
        assert.strictEqual(error._tag, "InvalidTokenResponse")
        if (error._tag === "InvalidTokenResponse") {
          assert.strictEqual(error.reason, "UnexpectedStatus")
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
          assert.strictEqual((error as OAuthError.InvalidTokenResponse).reason, "Redirect")
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
        assert.strictEqual(error._tag, "TransportError")
        if (error._tag === "TransportError") assert.strictEqual(error.reason, "Deadline")
        assert.isAtLeast(attempts, 2)
      }))

    it.effect("a body over 1 MiB is invalid (by Content-Length)", () =>
      Effect.gen(function*() {
        const { error } = yield* failure([{ body: "{}", headers: { "content-length": String(2 * 1024 * 1024) } }])
        assert.strictEqual((error as OAuthError.InvalidTokenResponse).reason, "BodyTooLarge")
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
    const serve = (handler: Http.RequestListener) =>
      Effect.acquireRelease(
        Effect.async<Http.Server>((resume) => {
          const server = Http.createServer(handler)
          server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
        }),
        (server) =>
          Effect.async<void>((resume) => {
            server.closeAllConnections()
            server.close(() => resume(Effect.void))
          })
      ).pipe(Effect.map((server) => `http://127.0.0.1:${(server.address() as AddressInfo).port}`))

    const request = (url: string) =>
      TokenEndpoint.make({ provider: { ...provider, tokenEndpoint: `${url}/token` }, client, maxAttempts: 1 }).pipe(
        Effect.flatMap((endpoint) => Effect.flip(endpoint.request(Grant.ClientCredentials(Scopes.make())))),
        Effect.provide(NodeHttpClient.layerUndici)
      )

    it.live("a redirect is never followed: its target sees no request", () =>
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
        const error = yield* request(origin)
        assert.strictEqual((error as OAuthError.InvalidTokenResponse).reason, "Redirect")
        assert.strictEqual(hits, 0)
      }).pipe(Effect.scoped))

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
        assert.strictEqual((error as OAuthError.InvalidTokenResponse).reason, "BodyTooLarge")
        assert.isBelow(written, 8 * 1024 * 1024)
      }).pipe(Effect.scoped))

    it.live("a dropped connection is a transport error", () =>
      Effect.gen(function*() {
        const origin = yield* serve((req) => req.socket.destroy())
        const error = yield* request(origin)
        assert.strictEqual(error._tag, "TransportError")
      }).pipe(Effect.scoped))
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
