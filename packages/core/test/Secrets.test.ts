import {
  Authorization,
  AuthorizedHttpClient,
  OAuthClient,
  OAuthError,
  Scopes,
  TokenEndpoint,
  TokenStore
} from "@effect-oauth/core"
import { TestServer } from "@effect-oauth/testing"
import { HttpClient } from "@effect/platform"
import { assert, describe, it } from "@effect/vitest"
import { Cause, Duration, Effect, Exit, Layer, Logger, LogLevel, Option, Redacted, TestClock, Tracer } from "effect"
import * as Util from "node:util"

/**
 * Every way a value is commonly turned into text: `JSON.stringify`, `util.inspect` (what
 * `console.log` prints), `String`, its own `toJSON`, and for errors their message, stack and every
 * error of their cause chain.
 */
const renderings = (value: unknown): Array<string> => {
  const texts: Array<string> = []
  let current: unknown = value
  for (let depth = 0; depth < 8 && current !== undefined && current !== null; depth++) {
    texts.push(JSON.stringify(current) ?? "", Util.inspect(current, { depth: null }), String(current))
    if (typeof current === "object" && "toJSON" in current && typeof current.toJSON === "function") {
      texts.push(JSON.stringify(current.toJSON()) ?? "")
    }
    if (current instanceof Error) texts.push(current.message, current.stack ?? "")
    current = current instanceof Error ? current.cause : undefined
  }
  return texts
}

/**
 * Runs a whole fault suite while capturing every log line, span (name and attributes), error (in
 * every rendering, with its cause chain and `Cause.pretty`) and API response, and checks that none
 * of them contains a secret: the client secret, access and refresh tokens, codes, verifiers or
 * states — also when the server echoes them back.
 */
describe("secrets", () => {
  it.scoped("no log line, span attribute or error message of the fault suite contains a secret", () =>
    Effect.gen(function*() {
      const captured: Array<string> = []
      const secrets = new Set<string>()
      const keep = (value: string | undefined | null) => {
        if (value) secrets.add(value)
      }

      const logger = Logger.make(({ annotations, message }) => {
        captured.push(JSON.stringify(message), JSON.stringify([...annotations]))
      })
      let ids = 0
      const tracer = Tracer.make({
        span: (name, parent, context, links, startTime, kind) => {
          captured.push(name)
          const attributes = new Map<string, unknown>()
          const span: Tracer.Span = {
            _tag: "Span",
            name,
            spanId: String(++ids),
            traceId: "trace",
            parent,
            context,
            status: { _tag: "Started", startTime },
            attributes,
            links,
            sampled: true,
            kind,
            end: () => {},
            attribute: (key, value) => {
              captured.push(`${key}=${JSON.stringify(value)}`)
              attributes.set(key, value)
            },
            event: (eventName, _time, eventAttributes) => {
              captured.push(eventName, JSON.stringify(eventAttributes ?? {}))
            },
            addLinks: () => {}
          }
          return span
        },
        context: (f) => f()
      })
      let errors = 0
      // Which errors of the family the suite met, as `Class/reason`.
      const kinds = new Set<string>()
      const record = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
        Effect.tap(Effect.exit(effect), (exit) =>
          Effect.sync(() => {
            if (Exit.isFailure(exit)) {
              errors++
              const error = Cause.squash(exit.cause)
              if (OAuthError.isOAuthError(error)) {
                kinds.add(`${error._tag.slice("@effect-oauth/".length)}/${error.reason}`)
              }
              captured.push(...renderings(error), Cause.pretty(exit.cause))
            } else {
              captured.push(...renderings(exit.value))
            }
          }))

      const suite = Effect.gen(function*() {
        const server = yield* TestServer.TestServer
        keep(Redacted.value(Option.getOrThrow(server.client.clientSecret)))
        const provider = server.provider()
        const store = yield* TokenStore.TokenStore
        const client = yield* OAuthClient.make({
          provider,
          client: server.client,
          session: OAuthClient.clientCredentials(Scopes.make("read"))
        })
        const remember = (
          token: { readonly accessToken: Redacted.Redacted; readonly refreshToken: Option.Option<Redacted.Redacted> }
        ) => {
          keep(Redacted.value(token.accessToken))
          Option.map(token.refreshToken, (rt) => keep(Redacted.value(rt)))
        }
        yield* record(Effect.tap(client.token, remember))
        // Faults of every kind on the token endpoint.
        yield* server.injectFaults([
          { status: 503, body: "<html>down</html>" },
          { status: 429, headers: { "retry-after": "1" } },
          { status: 200, body: "{\"access_token\":" },
          { status: 400, body: JSON.stringify({ error: "invalid_scope", error_description: "no" }) }
        ])
        const fiber = yield* Effect.fork(record(Effect.tap(client.refresh, remember)))
        yield* TestClock.adjust(Duration.minutes(1))
        yield* fiber.await
        yield* record(Effect.tap(client.refresh, remember))

        // A user login, refreshes, a revoked grant, an API call through the authorized client.
        const endpoint = yield* TokenEndpoint.make({ provider, client: server.client })
        const signIn = Effect.gen(function*() {
          const login = yield* Authorization.start({
            provider,
            client: server.client,
            redirectUri: "http://127.0.0.1:9/cb"
          })
          keep(Redacted.value(login.transaction.state))
          keep(Redacted.value(login.transaction.codeVerifier))
          const callback = yield* server.authorize(login.url)
          keep(new URL(callback).searchParams.get("code"))
          const token = yield* Authorization.complete(endpoint, login.transaction, callback)
          remember(token)
          return { transaction: login.transaction, callback, token }
        })
        const slot = (key: string) =>
          OAuthClient.make({ provider, client: server.client, session: OAuthClient.user(key), key })
        const user = yield* slot("u")
        yield* user.setToken((yield* signIn).token)
        // A replayed code (of another login: the server revokes what the code gave) and a tampered state.
        const other = yield* signIn
        yield* record(Authorization.complete(endpoint, other.transaction, other.callback))
        yield* record(
          Authorization.complete(endpoint, other.transaction, other.callback.replace(/state=[^&]+/, "state=x"))
        )
        yield* record(Effect.tap(user.refresh, remember))
        const http = yield* AuthorizedHttpClient.make().pipe(Effect.provideService(OAuthClient.OAuthClient, user))
        yield* record(http.get(server.meEndpoint))
        // The platform's errors through the authorized client: a dropped connection, a status
        // refused by filterStatusOk, a body that is not JSON; and a request to another origin.
        yield* server.injectFaults([
          { path: "/me", dropConnection: true },
          { path: "/me", status: 503, body: "busy" },
          { path: "/me", status: 200, body: "not json", headers: { "content-type": "application/json" } }
        ])
        yield* record(http.get(server.meEndpoint))
        yield* record(HttpClient.filterStatusOk(http).get(server.meEndpoint))
        yield* record(Effect.flatMap(http.get(server.meEndpoint), (response) => response.json))
        yield* record(http.get("https://elsewhere.example/me"))

        // A server that echoes what it was sent, in 5xx pages and in error descriptions (a slot of
        // its own: the refused refresh is fatal for it).
        const echoing = yield* slot("e")
        const { token: current } = yield* signIn
        yield* echoing.setToken(current)
        // What the slot holds, and so sends, when the next refresh goes out.
        const echoOf = (token: typeof current) =>
          [
            Redacted.value(Option.getOrThrow(server.client.clientSecret)),
            Redacted.value(Option.getOrThrow(token.refreshToken)),
            Redacted.value(token.accessToken)
          ].join(" ")
        const page = echoOf(current)
        yield* server.injectFaults(
          Array.from({ length: 4 }, () => ({ path: "/token", status: 503, body: `<p>${page}</p>` }))
        )
        const echoed = yield* Effect.fork(record(echoing.refresh))
        yield* TestClock.adjust(Duration.minutes(1))
        yield* echoed.await
        // The slot may have refreshed in the background meanwhile: echo what it holds now.
        const echo = echoOf(yield* echoing.token)
        yield* server.injectFaults([{
          path: "/token",
          status: 400,
          body: JSON.stringify({
            error: `no ${echo}`,
            error_description: `refused ${echo}`,
            error_uri: `https://x/${echo}`
          })
        }])
        yield* record(echoing.refresh)
        yield* server.revokeAll()
        yield* record(http.get(server.meEndpoint))
        yield* record(user.refresh)
        yield* server.resetSecret()
        yield* record(client.refresh)
        yield* record(store.get("u"))
      })

      yield* suite.pipe(
        Effect.provide(Layer.merge(TestServer.layerInMemory(), TokenStore.layerMemory)),
        Effect.provide(Logger.replace(Logger.defaultLogger, logger)),
        Logger.withMinimumLogLevel(LogLevel.All),
        Effect.withTracer(tracer)
      )

      assert.isAtLeast(secrets.size, 7)
      assert.isAtLeast(errors, 12)
      // The suite reaches the classes whose fields carry a server's text or a request's origin.
      assert.includeMembers([...kinds], [
        "AuthorizationError/StateMismatch",
        "ReauthorizationRequired/RefreshRejected",
        "TokenRequestError/ClientAuthentication",
        "TokenRequestError/ErrorResponse",
        "TokenRequestError/InvalidResponse",
        "UntrustedOrigin/NotTrusted"
      ])
      assert.isAtLeast(captured.length, 100)
      for (const line of captured) {
        for (const secret of secrets) {
          assert.notInclude(line, secret, "a secret leaked into a log line, span or error")
        }
      }
    }))
})
