/**
 * A web server acting for many users of one osu! OAuth client: each user signs in once in the
 * browser; from then on the server calls the API as that user, and the `Registry` refreshes every
 * user's token in the background (one scheduler fiber for all of them), until the user signs out.
 *
 *   GET  /login?user=<id>   starts a login and redirects the browser to the provider
 *   GET  /callback          completes it: the user's slot in the registry keeps the token
 *   GET  /me?user=<id>      calls the provider's API as that user
 *   POST /logout?user=<id>  revokes the user's tokens at the provider and forgets them
 *
 *   OSU_CLIENT_ID=… OSU_CLIENT_SECRET=… OSU_REDIRECT_URI=http://127.0.0.1:7777/callback \
 *     pnpm --filter @effect-oauth/examples multi-user-server
 *
 * The `user` in the query stands for the application's own session: a real server takes the user
 * from its signed-in session, never from the request (anyone could name anyone), and checks in the
 * callback that the browser completing a login is the one that started it.
 *
 * Without the variables it runs against the embedded test server, configured as osu!, and drives
 * itself over HTTP: two users sign in (the test server approves each login as a browser would),
 * both call /me, one signs out.
 */
import {
  Authorization,
  type ClientConfig,
  type Provider,
  Registry,
  Scopes,
  TokenEndpoint,
  TokenStore
} from "@effect-oauth/core"
import * as Osu from "@effect-oauth/core/providers/Osu"
import { TestServer } from "@effect-oauth/testing"
import {
  HttpClient,
  HttpClientRequest,
  HttpRouter,
  HttpServer,
  HttpServerRequest,
  HttpServerResponse
} from "@effect/platform"
import { NodeHttpClient, NodeHttpServer, NodeRuntime } from "@effect/platform-node"
import { Config, Console, Duration, Effect, Layer, Option, Schema } from "effect"
import * as Http from "node:http"
import { target } from "./internal/target.js"

/** The user named by the query: letters, digits, `_` and `-` (it becomes part of a store key). */
const UserQuery = Schema.Struct({ user: Schema.String.pipe(Schema.pattern(/^[A-Za-z0-9_-]{1,64}$/)) })

/** A body on one line, cut to `max` characters. */
const cut = (body: string, max = 120) => {
  const line = body.replace(/\s+/g, " ")
  return line.length <= max ? line : `${line.slice(0, max - 1)}…`
}

const text = (body: string, status = 200) => HttpServerResponse.text(body, { status })

/** What a failed request tells the browser: the library's messages carry no secret. */
const failure = (error: { readonly _tag: string; readonly message: string }) => {
  switch (error._tag) {
    case "ParseError":
      return text("name a user: ?user=<letters, digits, _ or ->", 400)
    case "@effect-oauth/ReauthorizationRequired":
      return text(`not signed in: ${error.message}`, 401)
    case "@effect-oauth/AuthorizationError":
      return text(`the login failed: ${error.message}`, 400)
    default:
      return text(`the provider could not be reached: ${error.message}`, 502)
  }
}

/** The routes, for the registry of the context. */
const makeApp = (options: {
  readonly provider: Provider.Provider<Osu.OsuScope, typeof Osu.rules>
  readonly client: ClientConfig.ClientConfig
  readonly api: string
  readonly redirectUri: string
}) =>
  Effect.gen(function*() {
    const { api, client, provider, redirectUri } = options
    const registry = yield* Registry.Registry
    // The code exchange goes to the same token endpoint the registry refreshes at.
    const endpoint = yield* TokenEndpoint.make({ provider, client })
    // Logins in progress, by state, for 10 minutes; each can be taken once. Whose login it is stays
    // beside it, on the server: never in the URL.
    const pending = yield* Authorization.makePendingLogins()
    const owners = new WeakMap<Authorization.Transaction, string>()

    const login = Effect.gen(function*() {
      const { user } = yield* HttpServerRequest.schemaSearchParams(UserQuery)
      const { transaction, url } = yield* Authorization.start({
        provider,
        client,
        redirectUri,
        scopes: Scopes.make("identify", "public")
      })
      owners.set(transaction, user)
      yield* pending.register(transaction)
      return HttpServerResponse.redirect(url, { status: 302 })
    })

    const callback = Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      const url = new URL(request.url, redirectUri)
      const transaction = yield* pending.take(url.searchParams.get("state") ?? "")
      const user = Option.flatMap(transaction, (t) => Option.fromNullable(owners.get(t)))
      if (Option.isNone(transaction) || Option.isNone(user)) {
        return text("unknown or expired login: start again at /login", 400)
      }
      // Checks the callback (state, iss, errors, duplicates) before it exchanges the code.
      const token = yield* Authorization.complete(endpoint, transaction.value, url)
      const slot = yield* registry.get(user.value)
      yield* slot.setToken(token)
      return text(`signed in as ${user.value}`)
    })

    const me = Effect.gen(function*() {
      const { user } = yield* HttpServerRequest.schemaSearchParams(UserQuery)
      const http = yield* registry.httpClient(user)
      const response = yield* http.get(`${api}/me`)
      // The provider's answer, passed on as it came.
      return HttpServerResponse.text(yield* response.text, {
        status: response.status,
        contentType: response.headers["content-type"] ?? "application/json"
      })
    })

    const logout = Effect.gen(function*() {
      const { user } = yield* HttpServerRequest.schemaSearchParams(UserQuery)
      // osu! has no RFC 7009 endpoint (the test server, standing in for it, has one): its API ends
      // the session there, and `remove` then forgets the tokens here.
      if (Option.isNone(provider.revocationEndpoint)) {
        const http = yield* registry.httpClient(user)
        yield* Effect.ignore(http.del(`${api}/oauth/tokens/current`))
      }
      yield* registry.remove(user)
      return text(`signed out ${user}`)
    })

    return HttpRouter.empty.pipe(
      HttpRouter.get("/login", Effect.catchAll(login, failure)),
      HttpRouter.get("/callback", Effect.catchAll(callback, failure)),
      HttpRouter.get("/me", Effect.catchAll(me, failure)),
      HttpRouter.post("/logout", Effect.catchAll(logout, failure))
    )
  })

/** Two users sign in, call /me, one signs out — over HTTP, as browsers would, printing each step. */
const tour = (base: string, server: TestServer.TestServer.Service) =>
  Effect.gen(function*() {
    // Redirects are not followed: the "browser" below shows each hop.
    const http = yield* HttpClient.HttpClient
    const send = (request: HttpClientRequest.HttpClientRequest) =>
      Effect.flatMap(http.execute(request), (response) =>
        Effect.map(response.text, (body) => ({ status: response.status, headers: response.headers, body })))
    const show = (label: string, answer: { readonly status: number; readonly body: string }) =>
      Console.log(`   ${label} -> ${answer.status} ${cut(answer.body)}`)

    let replay = ""
    for (const user of ["alice", "bob"]) {
      yield* Console.log(`\n${user} signs in, in a browser of their own (simulated):`)
      const started = yield* send(HttpClientRequest.get(`${base}/login?user=${user}`))
      const location = new URL(started.headers.location ?? "")
      yield* Console.log(`   GET /login?user=${user} -> ${started.status} to ${location.origin}${location.pathname}`)
      // The provider asks the user and sends the browser back to /callback with a code.
      const callback = yield* server.authorize(location.href)
      yield* Console.log("   (the test server approves the login and redirects to /callback)")
      yield* show("GET /callback", yield* send(HttpClientRequest.get(callback)))
      replay = callback
    }
    yield* Console.log("\nThe same callback again (a replay) finds no login, and sends nothing to the provider:")
    yield* show("GET /callback", yield* send(HttpClientRequest.get(replay)))
    const registry = yield* Registry.Registry
    yield* Console.log(
      `\nThe registry holds ${yield* registry.size} users' slots; each calls the API with its own token ` +
        "(the test server has one account, so both see the same profile):"
    )
    for (const user of ["alice", "bob"]) {
      yield* show(`GET /me?user=${user}`, yield* send(HttpClientRequest.get(`${base}/me?user=${user}`)))
    }
    yield* Console.log("\nalice signs out:")
    yield* show("POST /logout?user=alice", yield* send(HttpClientRequest.post(`${base}/logout?user=alice`)))
    for (const user of ["alice", "bob"]) {
      yield* show(`GET /me?user=${user}`, yield* send(HttpClientRequest.get(`${base}/me?user=${user}`)))
    }
    const counters = yield* server.counters
    yield* Console.log(
      `\nThe provider saw ${TestServer.tokenRequests(counters, "authorization_code").ok} code exchanges, ` +
        `${counters.revocations} revocation, ${counters.resourceRequests["200"] ?? 0} API calls answered 200.`
    )
    yield* Console.log("Done.")
  })

const program = Effect.gen(function*() {
  const osu = yield* target({ prefix: "OSU", name: "osu!", flavour: "osu", make: Osu.make, apiPath: "/api/v2" })
  const configured = yield* Config.option(Config.string("OSU_REDIRECT_URI"))
  // The registered redirect URI fixes the port (osu! compares it); offline any free port does.
  const port = Option.match(configured, { onNone: () => 0, onSome: (uri) => Number(new URL(uri).port) })
  const services = Layer.mergeAll(
    NodeHttpServer.layer(() => Http.createServer(), { host: "127.0.0.1", port }),
    Registry.layer({ provider: osu.provider, client: osu.client, idleTimeToLive: Duration.minutes(30) }).pipe(
      Layer.provide(TokenStore.layerMemory),
      Layer.provideMerge(NodeHttpClient.layerUndici)
    )
  )
  yield* Effect.gen(function*() {
    const address = (yield* HttpServer.HttpServer).address
    const base = address._tag === "TcpAddress" ? `http://127.0.0.1:${address.port}` : "http://127.0.0.1"
    const redirectUri = Option.getOrElse(configured, () => `${base}/callback`)
    const app = yield* makeApp({ provider: osu.provider, client: osu.client, api: osu.api, redirectUri })
    yield* HttpServer.serveEffect(app)
    yield* Console.log(`The server listens on ${base}.`)
    if (Option.isSome(osu.server)) {
      yield* tour(base, osu.server.value)
    } else {
      yield* Console.log(`Open ${base}/login?user=<a name> in a browser; Ctrl-C stops the server.`)
      yield* Effect.never
    }
  }).pipe(Effect.provide(services))
})

NodeRuntime.runMain(Effect.scoped(program))
