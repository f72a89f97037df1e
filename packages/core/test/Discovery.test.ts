import { Discovery, ScopeRules } from "@effect-oauth/core"
import { TestServer } from "@effect-oauth/testing"
import {
  FetchHttpClient,
  HttpClient,
  HttpClientError,
  HttpClientResponse,
  HttpServer,
  HttpServerRequest,
  HttpServerResponse
} from "@effect/platform"
import { NodeHttpClient, NodeHttpServer } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Context, Duration, Effect, Fiber, Layer, Option, TestClock } from "effect"
import * as Http from "node:http"

type Answer = unknown | ((request: Request) => Response | "fail" | "hang")

/** A fake HttpClient serving documents by URL (404 otherwise), recording every URL asked. */
const serving = (documents: Record<string, Answer>) => {
  const asked: Array<string> = []
  const client = HttpClient.make((request) =>
    Effect.suspend(() => {
      asked.push(request.url)
      const doc = documents[request.url]
      const answer = typeof doc === "function"
        ? (doc as (request: Request) => Response | "fail" | "hang")(new Request(request.url))
        : doc === undefined
        ? new Response("not found", { status: 404 })
        : new Response(JSON.stringify(doc), { headers: { "content-type": "application/json" } })
      if (answer === "fail") {
        return Effect.fail(new HttpClientError.RequestError({ request, reason: "Transport", cause: "refused" }))
      }
      if (answer === "hang") return Effect.never
      return Effect.succeed(HttpClientResponse.fromWeb(request, answer))
    })
  )
  return { client, asked }
}

const metadata = (issuer: string) => ({
  issuer,
  token_endpoint: `${issuer}/token`,
  authorization_endpoint: `${issuer}/authorize`,
  token_endpoint_auth_methods_supported: ["client_secret_post"],
  authorization_response_iss_parameter_supported: true
})

const issuer = "https://id.example"
const rfc8414 = `${issuer}/.well-known/oauth-authorization-server`
const openid = `${issuer}/.well-known/openid-configuration`

const discoverWith = (
  documents: Record<string, Answer>,
  at: string = issuer,
  options?: Discovery.DiscoverOptions
) => {
  const { asked, client } = serving(documents)
  return Effect.gen(function*() {
    const fiber = yield* Discovery.discover(at, options).pipe(
      Effect.provideService(HttpClient.HttpClient, client),
      Effect.either,
      Effect.fork
    )
    // Retries back off on the Clock: move the TestClock along until discovery is done.
    for (let i = 0; i < 120 && fiber.unsafePoll() === null; i++) yield* TestClock.adjust(Duration.seconds(1))
    return { result: yield* Fiber.join(fiber), asked }
  })
}

const discovered = (documents: Record<string, Answer>, at?: string, options?: Discovery.DiscoverOptions) =>
  Effect.flatMap(discoverWith(documents, at, options), ({ asked, result }) =>
    result._tag === "Right"
      ? Effect.succeed({ provider: result.right, asked })
      : Effect.dieMessage(`expected a provider, got ${result.left._tag}: ${result.left.message}`))

const refused = (documents: Record<string, Answer>, at?: string, options?: Discovery.DiscoverOptions) =>
  Effect.flatMap(discoverWith(documents, at, options), ({ asked, result }) =>
    result._tag === "Left"
      ? Effect.succeed({ error: result.left, asked })
      : Effect.dieMessage("expected discovery to be refused"))

/** The error of a discovery that must fail (a provider, were it found, is no error to report). */
const refusal = <A, E, R>(discovery: Effect.Effect<A, E, R>) =>
  Effect.flatMap(
    Effect.either(discovery),
    (result) => result._tag === "Left" ? Effect.succeed(result.left) : Effect.dieMessage("expected discovery to fail")
  )

describe("Discovery", () => {
  it.effect("reads RFC 8414 metadata from the test server", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      const provider = yield* Discovery.discover(server.issuer)
      assert.strictEqual(provider.tokenEndpoint, server.tokenEndpoint)
      assert.deepStrictEqual(provider.revocationEndpoint, Option.some(server.revocationEndpoint))
      assert.deepStrictEqual(provider.issuer, Option.some(server.issuer))
      assert.strictEqual(provider.clientAuthentication, "client_secret_basic")
    }).pipe(Effect.provide(TestServer.layerInMemory())))

  it.effect("reads RFC 8414 metadata first, and every field it knows", () =>
    Effect.gen(function*() {
      const { asked, provider } = yield* discovered({
        [rfc8414]: {
          ...metadata(issuer),
          revocation_endpoint: `${issuer}/revoke`,
          device_authorization_endpoint: `${issuer}/device`,
          scopes_supported: ["read", "write"],
          code_challenge_methods_supported: ["S256"],
          unknown_member: { ignored: true }
        },
        [openid]: { ...metadata(issuer), token_endpoint: `${issuer}/not-this-one` }
      })
      assert.deepStrictEqual(asked, [rfc8414])
      assert.strictEqual(provider.name, "id.example")
      assert.deepStrictEqual(provider.issuer, Option.some(issuer))
      assert.strictEqual(provider.tokenEndpoint, `${issuer}/token`)
      assert.deepStrictEqual(provider.authorizationEndpoint, Option.some(`${issuer}/authorize`))
      assert.deepStrictEqual(provider.revocationEndpoint, Option.some(`${issuer}/revoke`))
      assert.deepStrictEqual(provider.deviceAuthorizationEndpoint, Option.some(`${issuer}/device`))
      // `scopes_supported` is what the server lists, not a rule: any scope may still be asked for.
      assert.deepStrictEqual(provider.scopes, [])
      assert.strictEqual(provider.scopeRules, ScopeRules.permissive)
      assert.strictEqual(provider.clientAuthentication, "client_secret_post")
      assert.isTrue(provider.authorizationResponseIssParameterSupported)
    }))

  it.effect("keeps the scope rules it is given: their scopes are the provider's", () =>
    Effect.gen(function*() {
      const scopeRules = {
        known: ["reports.read", "reports.write"],
        grants: { ClientCredentials: { explicit: true } },
        constraints: []
      } as const satisfies ScopeRules.ScopeRules<string>
      const { provider } = yield* discovered({ [rfc8414]: metadata(issuer) }, issuer, { scopeRules })
      assert.strictEqual(provider.scopeRules, scopeRules)
      assert.deepStrictEqual(provider.scopes, ["reports.read", "reports.write"])
    }))

  it.effect("falls back to OpenID metadata", () =>
    Effect.gen(function*() {
      const { asked, provider } = yield* discovered({ [openid]: metadata(issuer) })
      assert.strictEqual(provider.tokenEndpoint, `${issuer}/token`)
      assert.isTrue(provider.authorizationResponseIssParameterSupported)
      assert.deepStrictEqual(asked, [rfc8414, openid])
    }))

  it.effect("falls back to OpenID metadata when the RFC 8414 document is not valid metadata", () =>
    Effect.gen(function*() {
      const { asked, provider } = yield* discovered({
        [rfc8414]: { issuer, authorization_endpoint: `${issuer}/authorize` },
        [openid]: metadata(issuer)
      })
      assert.strictEqual(provider.tokenEndpoint, `${issuer}/token`)
      assert.strictEqual(asked.length, 2)
      const notJson = yield* discovered({ [rfc8414]: () => new Response("<html>"), [openid]: metadata(issuer) })
      assert.strictEqual(notJson.provider.tokenEndpoint, `${issuer}/token`)
    }))

  it.effect("without token_endpoint_auth_methods_supported, or with only others, authentication is basic", () =>
    Effect.gen(function*() {
      const { token_endpoint_auth_methods_supported: _, ...bare } = metadata(issuer)
      const { provider } = yield* discovered({ [rfc8414]: bare })
      assert.strictEqual(provider.clientAuthentication, "client_secret_basic")
      assert.isTrue(provider.authorizationResponseIssParameterSupported)
      const { provider: plain } = yield* discovered({
        [rfc8414]: { issuer, token_endpoint: `${issuer}/token` }
      })
      assert.isFalse(plain.authorizationResponseIssParameterSupported)
      assert.deepStrictEqual(plain.authorizationEndpoint, Option.none())
    }))

  it("prefers client_secret_basic, then client_secret_post, then none", () => {
    assert.strictEqual(Discovery.chooseAuthentication(undefined), "client_secret_basic")
    assert.strictEqual(Discovery.chooseAuthentication([]), "client_secret_basic")
    assert.strictEqual(Discovery.chooseAuthentication(["private_key_jwt"]), "client_secret_basic")
    assert.strictEqual(Discovery.chooseAuthentication(["none", "client_secret_post"]), "client_secret_post")
    assert.strictEqual(
      Discovery.chooseAuthentication(["none", "client_secret_post", "client_secret_basic"]),
      "client_secret_basic"
    )
    assert.strictEqual(Discovery.chooseAuthentication(["private_key_jwt", "none"]), "none")
  })

  it("inserts the well-known path before an issuer's path (RFC 8414 §3.1)", () => {
    assert.deepStrictEqual(Discovery.metadataUrls("https://auth.example/tenant/one"), [
      "https://auth.example/.well-known/oauth-authorization-server/tenant/one",
      "https://auth.example/tenant/one/.well-known/openid-configuration"
    ])
    assert.deepStrictEqual(Discovery.metadataUrls("https://auth.example"), [
      "https://auth.example/.well-known/oauth-authorization-server",
      "https://auth.example/.well-known/openid-configuration"
    ])
    assert.deepStrictEqual(Discovery.metadataUrls("https://auth.example/"), [
      "https://auth.example/.well-known/oauth-authorization-server",
      "https://auth.example/.well-known/openid-configuration"
    ])
  })

  it.effect("an issuer with a path is discovered at the path-inserted URL, then the appended one", () =>
    Effect.gen(function*() {
      const tenant = "https://auth.example/tenant/one"
      const inserted = "https://auth.example/.well-known/oauth-authorization-server/tenant/one"
      const appended = "https://auth.example/tenant/one/.well-known/openid-configuration"
      const first = yield* discovered({ [inserted]: metadata(tenant) }, tenant)
      assert.deepStrictEqual(first.asked, [inserted])
      assert.deepStrictEqual(first.provider.issuer, Option.some(tenant))
      const second = yield* discovered({ [appended]: metadata(tenant) }, tenant)
      assert.deepStrictEqual(second.asked, [inserted, appended])
    }))

  it.effect("refuses metadata whose issuer differs from the one asked, without trying elsewhere", () =>
    Effect.gen(function*() {
      const { asked, error } = yield* refused({
        [rfc8414]: metadata("https://evil.example"),
        [openid]: metadata(issuer)
      })
      assert.strictEqual(error._tag, "@effect-oauth/ConfigurationError")
      assert.include(error.message, "evil.example")
      assert.deepStrictEqual(asked, [rfc8414])
    }))

  it.effect("compares the issuer exactly: a trailing slash or another case is another issuer", () =>
    Effect.gen(function*() {
      for (const other of [`${issuer}/`, "https://ID.example", "http://id.example"]) {
        const { error } = yield* refused({ [rfc8414]: metadata(other) })
        assert.strictEqual(error._tag, "@effect-oauth/ConfigurationError")
      }
    }))

  it.effect("refuses http endpoints that are not loopback, unless allowed", () =>
    Effect.gen(function*() {
      for (
        const field of [
          "token_endpoint",
          "authorization_endpoint",
          "revocation_endpoint",
          "device_authorization_endpoint"
        ]
      ) {
        const { error } = yield* refused({ [rfc8414]: { ...metadata(issuer), [field]: "http://id.example/x" } })
        assert.strictEqual(error._tag, "@effect-oauth/ConfigurationError")
      }
      const { asked, error } = yield* refused({}, "http://id.example")
      assert.strictEqual(error._tag, "@effect-oauth/ConfigurationError")
      assert.deepStrictEqual(asked, [])
      const insecure = "http://id.example"
      const allowed = yield* discovered(
        { [`${insecure}/.well-known/oauth-authorization-server`]: metadata(insecure) },
        insecure,
        { allowInsecureHttp: true }
      )
      assert.strictEqual(allowed.provider.tokenEndpoint, "http://id.example/token")
      assert.isTrue(allowed.provider.allowInsecureHttp)
    }))

  it.effect("accepts http on loopback", () =>
    Effect.gen(function*() {
      const local = "http://127.0.0.1:9000"
      const { provider } = yield* discovered(
        { [`${local}/.well-known/oauth-authorization-server`]: metadata(local) },
        local
      )
      assert.strictEqual(provider.tokenEndpoint, `${local}/token`)
    }))

  it.effect("refuses an issuer with a query or a fragment (RFC 8414 §2)", () =>
    Effect.gen(function*() {
      for (const bad of [`${issuer}?tenant=1`, `${issuer}#x`, "not a url"]) {
        const { asked, error } = yield* refused({}, bad)
        assert.strictEqual(error._tag, "@effect-oauth/ConfigurationError")
        assert.deepStrictEqual(asked, [])
      }
    }))

  it.effect("options override the metadata, and undefined options do not erase it", () =>
    Effect.gen(function*() {
      const { provider } = yield* discovered({ [rfc8414]: metadata(issuer) }, issuer, {
        name: "mine",
        clientAuthentication: "none",
        defaultTokenLifetime: Duration.hours(1),
        authorizationEndpoint: undefined
      })
      assert.strictEqual(provider.name, "mine")
      assert.strictEqual(provider.clientAuthentication, "none")
      assert.deepStrictEqual(provider.defaultTokenLifetime, Option.some(Duration.hours(1)))
      assert.deepStrictEqual(provider.authorizationEndpoint, Option.some(`${issuer}/authorize`))
      assert.deepStrictEqual(provider.issuer, Option.some(issuer))
    }))

  it.effect("says so when no metadata can be found", () =>
    Effect.gen(function*() {
      const { asked, error } = yield* refused({}, "https://none.example")
      assert.strictEqual(error._tag, "@effect-oauth/ConfigurationError")
      assert.include(error.message, "HTTP 404")
      assert.strictEqual(asked.length, 2)
    }))

  it.effect("does not follow redirects", () =>
    Effect.gen(function*() {
      const elsewhere = "https://elsewhere.example/metadata"
      const redirect = () => new Response(null, { status: 302, headers: { location: elsewhere } })
      const { asked, error } = yield* refused({
        [rfc8414]: redirect,
        [openid]: redirect,
        [elsewhere]: metadata(issuer)
      })
      assert.strictEqual(error._tag, "@effect-oauth/ConfigurationError")
      assert.include(error.message, "Redirect")
      assert.notInclude(asked, elsewhere)
    }))

  it.effect("stops reading a body over 1 MiB", () =>
    Effect.gen(function*() {
      const huge = () =>
        new Response(JSON.stringify({ ...metadata(issuer), padding: "x".repeat(2 * 1024 * 1024) }), {
          headers: { "content-type": "application/json" }
        })
      const { error } = yield* refused({ [rfc8414]: huge, [openid]: huge })
      assert.strictEqual(error._tag, "@effect-oauth/ConfigurationError")
      assert.include(error.message, "BodyTooLarge")
    }))

  it.effect("a server that cannot be reached is a transport error, after trying both URLs", () =>
    Effect.gen(function*() {
      const { asked, error } = yield* refused({ [rfc8414]: () => "fail", [openid]: () => "fail" })
      assert.strictEqual(error.reason, "Transport")
      // Each URL is tried twice (a transport failure is transient), the RFC 8414 one first.
      assert.deepStrictEqual(asked, [rfc8414, rfc8414, openid, openid])
    }))

  it.effect("an unreachable RFC 8414 URL still lets the OpenID one answer", () =>
    Effect.gen(function*() {
      const { provider } = yield* discovered({ [rfc8414]: () => "fail", [openid]: metadata(issuer) })
      assert.strictEqual(provider.tokenEndpoint, `${issuer}/token`)
    }))

  it.effect("a server that never answers times out (TestClock)", () =>
    Effect.gen(function*() {
      const { client } = serving({ [rfc8414]: () => "hang", [openid]: () => "hang" })
      const fiber = yield* Discovery.discover(issuer, { attemptTimeout: "5 seconds", deadline: "20 seconds" }).pipe(
        Effect.provideService(HttpClient.HttpClient, client),
        Effect.flip,
        Effect.fork
      )
      for (let i = 0; i < 10 && fiber.unsafePoll() === null; i++) yield* TestClock.adjust(Duration.seconds(10))
      const error = yield* Fiber.join(fiber)
      assert.strictEqual(error.reason, "Transport")
    }))

  describe("as real servers serve it", () => {
    type Route = (origin: string) => HttpServerResponse.HttpServerResponse

    /** A server on 127.0.0.1 answering `routes` by path (404 otherwise), recording each path asked. */
    const listen = (routes: (origin: string) => Record<string, Route>) =>
      Effect.gen(function*() {
        const context = yield* Layer.build(
          NodeHttpServer.layer(() => Http.createServer(), { host: "127.0.0.1", port: 0 })
        )
        const address = Context.get(context, HttpServer.HttpServer).address
        const origin = `http://127.0.0.1:${address._tag === "TcpAddress" ? address.port : 0}`
        const table = routes(origin)
        const asked: Array<string> = []
        yield* HttpServer.serveEffect(Effect.map(HttpServerRequest.HttpServerRequest, (request) => {
          asked.push(request.url)
          const route = table[request.url]
          return route === undefined ? HttpServerResponse.text("Not Found", { status: 404 }) : route(origin)
        })).pipe(Effect.provide(context))
        return { origin, asked }
      })

    const json = (body: unknown): Route => () => HttpServerResponse.unsafeJson(body)
    const redirect = (location: string, status = 301): Route => () =>
      HttpServerResponse.empty({ status, headers: { location } })

    const openidPath = "/o/.well-known/openid-configuration"

    /** Django OAuth Toolkit: metadata only at `…/openid-configuration/`, a 301 from the standard URL. */
    const django = (issuerOf: (origin: string) => string = (origin) => `${origin}/o`) =>
      listen((origin) => ({
        [openidPath]: redirect(`${openidPath}/`),
        [`${openidPath}/`]: json(metadata(issuerOf(origin)))
      }))

    const clients: ReadonlyArray<readonly [string, Layer.Layer<HttpClient.HttpClient>]> = [
      ["undici", NodeHttpClient.layerUndici],
      ["fetch", FetchHttpClient.layer]
    ]

    for (const [name, client] of clients) {
      it.live(`a stock Django OAuth Toolkit is discovered from its issuer: the slash redirect is followed once (${name})`, () =>
        Effect.gen(function*() {
          const { asked, origin } = yield* django()
          const provider = yield* Discovery.discover(`${origin}/o`)
          assert.deepStrictEqual(provider.issuer, Option.some(`${origin}/o`))
          assert.strictEqual(provider.tokenEndpoint, `${origin}/o/token`)
          assert.deepStrictEqual(asked, ["/.well-known/oauth-authorization-server/o", openidPath, `${openidPath}/`])
        }).pipe(Effect.provide(client), Effect.scoped))

      it.live(`the metadata document's URL is accepted directly, with or without the slash (${name})`, () =>
        Effect.gen(function*() {
          const { asked, origin } = yield* django()
          const direct = yield* Discovery.discover(`${origin}${openidPath}/`)
          assert.deepStrictEqual(direct.issuer, Option.some(`${origin}/o`))
          assert.strictEqual(direct.name, new URL(origin).host)
          assert.deepStrictEqual(asked, [`${openidPath}/`])
          const redirected = yield* Discovery.discover(`${origin}${openidPath}`)
          assert.deepStrictEqual(redirected.issuer, Option.some(`${origin}/o`))
          assert.deepStrictEqual(asked, [`${openidPath}/`, openidPath, `${openidPath}/`])
        }).pipe(Effect.provide(client), Effect.scoped))
    }

    it.live("a redirect that does more than add a slash is not followed, and its target sees nothing", () =>
      Effect.gen(function*() {
        const elsewhere = yield* listen((origin) => ({ [`${openidPath}/`]: json(metadata(`${origin}/o`)) }))
        for (
          const location of [
            `${elsewhere.origin}${openidPath}/`,
            "/o/.well-known/openid-configuration/?x=1",
            "/o/.well-known/openid-configuration/extra",
            "/other/.well-known/openid-configuration",
            "/o/.well-known/openid-configuration//"
          ]
        ) {
          const server = yield* listen(() => ({
            [openidPath]: redirect(location, 302),
            [`${openidPath}/extra`]: json({}),
            [`${openidPath}/?x=1`]: json({})
          }))
          const error = yield* refusal(Discovery.discover(`${server.origin}/o`))
          assert.strictEqual(error._tag, "@effect-oauth/ConfigurationError", location)
          assert.include(error.message, "not followed")
          assert.deepStrictEqual(server.asked, ["/.well-known/oauth-authorization-server/o", openidPath], location)
        }
        assert.deepStrictEqual(elsewhere.asked, [])
      }).pipe(Effect.provide(NodeHttpClient.layerUndici), Effect.scoped))

    it.live("the slash redirect is followed once, not twice", () =>
      Effect.gen(function*() {
        const { asked, origin } = yield* listen(() => ({
          [openidPath]: redirect(`${openidPath}/`),
          [`${openidPath}/`]: redirect(`${openidPath}//`),
          [`${openidPath}//`]: json({})
        }))
        const error = yield* refusal(Discovery.discover(`${origin}${openidPath}`))
        assert.strictEqual(error._tag, "@effect-oauth/ConfigurationError")
        assert.deepStrictEqual(asked, [openidPath, `${openidPath}/`])
      }).pipe(Effect.provide(NodeHttpClient.layerUndici), Effect.scoped))

    it.live("the issuer check stays exact after the redirect and for a metadata URL", () =>
      Effect.gen(function*() {
        const others = [(o: string) => `${o}/other`, (o: string) => `${o}/o#x`, () => "https://evil.example/o"]
        for (const issuerOf of others) {
          const { origin } = yield* django(issuerOf)
          for (const at of [`${origin}/o`, `${origin}${openidPath}/`, `${origin}${openidPath}`]) {
            const error = yield* refusal(Discovery.discover(at))
            assert.strictEqual(error._tag, "@effect-oauth/ConfigurationError", `${issuerOf(origin)} at ${at}`)
            assert.include(error.message, "RFC 8414 §3.3")
          }
        }
        // `…/o/` is another issuer than `…/o`, though its OpenID metadata lives at the same URL
        // (OpenID Discovery §4 drops a trailing slash): refused when `…/o` is asked, accepted by URL.
        const slashed = yield* django((o) => `${o}/o/`)
        const asked = yield* refusal(Discovery.discover(`${slashed.origin}/o`))
        assert.include(asked.message, "RFC 8414 §3.3")
        const byUrl = yield* Discovery.discover(`${slashed.origin}${openidPath}/`)
        assert.deepStrictEqual(byUrl.issuer, Option.some(`${slashed.origin}/o/`))
        // A document at one issuer's well-known URL is not another issuer's.
        const { origin } = yield* django()
        const error = yield* refusal(Discovery.discover(`${origin}/.well-known/openid-configuration`))
        assert.strictEqual(error._tag, "@effect-oauth/ConfigurationError")
      }).pipe(Effect.provide(NodeHttpClient.layerUndici), Effect.scoped))
  })

  describe("a metadata URL at the test server", () => {
    it.effect("the RFC 8414 document's URL gives the same provider as the issuer", () =>
      Effect.gen(function*() {
        const server = yield* TestServer.TestServer
        const byUrl = yield* Discovery.discover(server.metadataUrl)
        const byIssuer = yield* Discovery.discover(server.issuer)
        assert.deepStrictEqual(byUrl.issuer, Option.some(server.issuer))
        assert.strictEqual(byUrl.tokenEndpoint, byIssuer.tokenEndpoint)
        assert.deepStrictEqual(byUrl.revocationEndpoint, byIssuer.revocationEndpoint)
        const error = yield* refusal(Discovery.discover(`${server.metadataUrl}?tenant=1`))
        assert.include(error.message, "metadata URL")
      }).pipe(Effect.provide(TestServer.layerInMemory())))
  })

  describe("failures say discovery", () => {
    const paths = ["/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"]

    it.effect("a deadline names discovery and the metadata, not a token", () =>
      Effect.gen(function*() {
        const server = yield* TestServer.TestServer
        yield* server.injectFaults(paths.flatMap((path) => [{ path, hang: true }, { path, hang: true }]))
        const fiber = yield* Effect.fork(
          refusal(Discovery.discover(server.issuer, { attemptTimeout: "5 seconds", deadline: "1 second" }))
        )
        for (let i = 0; i < 10 && fiber.unsafePoll() === null; i++) yield* TestClock.adjust(Duration.seconds(1))
        const error = yield* Fiber.join(fiber)
        assert.strictEqual(error.reason, "Transport")
        assert.include(error.message, `discovery of ${server.issuer}`)
        assert.include(error.message, "no metadata within 1s")
        assert.notInclude(error.message, "token")
      }).pipe(Effect.provide(TestServer.layerInMemory())))

    it.effect("an attempt timeout and a failing server name discovery too", () =>
      Effect.gen(function*() {
        const server = yield* TestServer.TestServer
        yield* server.injectFaults(paths.flatMap((path) => [{ path, hang: true }, { path, hang: true }]))
        const fiber = yield* Effect.fork(
          refusal(Discovery.discover(server.issuer, { attemptTimeout: "2 seconds", deadline: "1 minute" }))
        )
        for (let i = 0; i < 30 && fiber.unsafePoll() === null; i++) yield* TestClock.adjust(Duration.seconds(1))
        const timeout = yield* Fiber.join(fiber)
        assert.include(timeout.message, "discovery of")
        assert.include(timeout.message, "no answer within 2s")

        const down = { status: 503, body: "<html>Service Unavailable</html>" }
        yield* server.injectFaults(paths.flatMap((path) => [{ path, ...down }, { path, ...down }]))
        const failing = yield* Effect.fork(refusal(Discovery.discover(server.issuer)))
        for (let i = 0; i < 30 && failing.unsafePoll() === null; i++) yield* TestClock.adjust(Duration.seconds(1))
        const error = yield* Fiber.join(failing)
        assert.strictEqual(error.reason, "Transient")
        assert.include(error.message, `discovery of ${server.issuer} at ${server.metadataUrl}`)
        assert.include(error.message, "Service Unavailable")
      }).pipe(Effect.provide(TestServer.layerInMemory())))

    it.effect("no metadata anywhere says discovery found none", () =>
      Effect.gen(function*() {
        const server = yield* TestServer.TestServer
        yield* server.injectFaults(paths.map((path) => ({ path, status: 404, body: "not found" })))
        const error = yield* refusal(Discovery.discover(server.issuer))
        assert.include(error.message, "discovery found no valid")
        assert.notInclude(error.message, "token")
      }).pipe(Effect.provide(TestServer.layerInMemory())))
  })
})
