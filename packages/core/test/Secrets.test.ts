import { Authorization, AuthorizedHttpClient, OAuthClient, Scopes, TokenEndpoint, TokenStore } from "@effect-oauth/core"
import { TestServer } from "@effect-oauth/testing"
import { assert, describe, it } from "@effect/vitest"
import { Cause, Duration, Effect, Exit, Layer, Logger, LogLevel, Option, Redacted, TestClock, Tracer } from "effect"

/**
 * Runs a whole fault suite while capturing every log line, span (name and attributes) and error,
 * and checks that none of them contains a secret: the client secret, access and refresh tokens,
 * codes, verifiers or states.
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
      const record = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
        Effect.tap(Effect.exit(effect), (exit) =>
          Effect.sync(() => {
            if (Exit.isFailure(exit)) {
              const error = Cause.squash(exit.cause)
              captured.push(String(error), JSON.stringify(error), error instanceof Error ? error.message : "")
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
        const login = yield* Authorization.start({
          provider,
          client: server.client,
          redirectUri: "http://127.0.0.1:9/cb"
        })
        keep(Redacted.value(login.transaction.state))
        keep(Redacted.value(login.transaction.codeVerifier))
        const callback = yield* server.authorize(login.url)
        keep(new URL(callback).searchParams.get("code"))
        const user = yield* OAuthClient.make({
          provider,
          client: server.client,
          session: OAuthClient.user("u"),
          key: "u"
        })
        const token = yield* Authorization.complete(endpoint, login.transaction, callback)
        remember(token)
        yield* user.setToken(token)
        // A replayed code and a tampered state.
        yield* record(Authorization.complete(endpoint, login.transaction, callback))
        yield* record(Authorization.complete(endpoint, login.transaction, callback.replace(/state=[^&]+/, "state=x")))
        yield* record(Effect.tap(user.refresh, remember))
        const http = yield* AuthorizedHttpClient.make().pipe(Effect.provideService(OAuthClient.OAuthClient, user))
        yield* record(http.get(server.meEndpoint))
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
      assert.isAtLeast(captured.length, 20)
      for (const line of captured) {
        for (const secret of secrets) {
          assert.notInclude(line, secret, "a secret leaked into a log line, span or error")
        }
      }
    }))
})
