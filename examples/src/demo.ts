/**
 * The demo: the OAuth flows end to end against the embedded authorization server of
 * `@effect-oauth/testing`, on real loopback sockets, with no credentials and no network.
 *
 *   1. client credentials: a token, then an API call through `AuthorizedHttpClient`;
 *   2. the loopback login (RFC 8252) with PKCE: a listener on 127.0.0.1, the (simulated) browser
 *      approves, the callback is checked and the code exchanged; the token goes to a file store;
 *   3. an API call as the user, a refresh with a rotated refresh token;
 *   4. a second "run": fresh layers over the same directory reuse the token, with no login.
 *
 * Tokens are printed redacted.
 */
import { AuthorizedHttpClient, OAuthClient, Scopes, TokenStore } from "@effect-oauth/core"
import { NodeOAuth } from "@effect-oauth/platform-node"
import { TestServer } from "@effect-oauth/testing"
import { NodeHttpClient, NodeRuntime } from "@effect/platform-node"
import { Console, Effect, Layer, Option } from "effect"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { simulatedBrowser } from "./internal/browser.js"

const describeToken = (
  token: { readonly accessToken: unknown; readonly version: number; readonly scopes: Scopes.ScopeSet }
) => `access token ${String(token.accessToken)} (version ${token.version}, scopes "${Scopes.format(token.scopes)}")`

/** One application's view: an OAuthClient slot and the authorized HttpClient over it. */
const app = (session: OAuthClient.Session, key: string) =>
  Layer.unwrapEffect(
    Effect.map(TestServer.TestServer, (server) =>
      AuthorizedHttpClient.layer().pipe(
        Layer.provideMerge(OAuthClient.layer({ provider: server.provider(), client: server.client, session, key }))
      ))
  )

const callMe = Effect.gen(function*() {
  const server = yield* TestServer.TestServer
  const http = yield* AuthorizedHttpClient.AuthorizedHttpClient
  const response = yield* http.get(server.meEndpoint)
  return { status: response.status, body: yield* response.json }
})

const clientCredentials = Effect.gen(function*() {
  yield* Console.log("\n1. Client credentials")
  const client = yield* OAuthClient.OAuthClient
  const token = yield* client.token
  yield* Console.log(`   got an ${describeToken(token)}`)
  const me = yield* callMe
  yield* Console.log(`   GET /me -> ${me.status} ${JSON.stringify(me.body)}`)
}).pipe(Effect.provide(app(OAuthClient.clientCredentials(Scopes.make("read")), "demo/client")))

const directory = Fs.mkdtempSync(Path.join(Os.tmpdir(), "effect-oauth-demo-"))

/** The Node application's layers: a file token store in `directory`, the user's slot, a login. */
const nodeApp = (server: TestServer.TestServer.Service, browserOpened: Array<string>) =>
  NodeOAuth.layer({
    provider: server.provider(),
    client: server.client,
    scopes: Scopes.make("read", "write"),
    userId: "alice",
    directory,
    openBrowser: (url) => Effect.zipRight(Effect.sync(() => browserOpened.push(url)), simulatedBrowser(server)(url))
  })

const userLogin = (browserOpened: Array<string>) =>
  Effect.gen(function*() {
    yield* Console.log("\n2. Loopback login with PKCE (RFC 8252)")
    yield* Console.log("   a listener on 127.0.0.1 waits for the redirect; the browser is sent to the server")
    const token = yield* NodeOAuth.login
    const url = new URL(browserOpened[0]!)
    yield* Console.log(
      `   callback checked (state, iss), code exchanged with the verifier (code_challenge_method=${
        url.searchParams.get("code_challenge_method")
      })`
    )
    yield* Console.log(
      `   ${describeToken(token)}, refresh token ${
        String(Option.getOrThrow(token.refreshToken))
      }, stored in a 0600 file`
    )

    yield* Console.log("\n3. Calling the API as the user, then refreshing")
    const me = yield* callMe
    yield* Console.log(`   GET /me -> ${me.status} ${JSON.stringify(me.body)}`)
    const client = yield* OAuthClient.OAuthClient
    const refreshed = yield* client.refresh
    yield* Console.log(`   refreshed: ${describeToken(refreshed)} (the refresh token was rotated and persisted)`)
  })

const secondRun = (browserOpened: Array<string>) =>
  Effect.gen(function*() {
    yield* Console.log("\n4. A second run: the persisted token is reused, no login")
    const token = yield* NodeOAuth.login
    yield* Console.log(`   loaded from the file store: ${describeToken(token)}`)
    yield* Console.log(`   browser opened ${browserOpened.length} time(s) in all: the second run did not sign in`)
    const me = yield* callMe
    yield* Console.log(`   GET /me -> ${me.status} ${JSON.stringify(me.body)}`)
    const counters = yield* Effect.flatMap(TestServer.TestServer, (server) => server.counters)
    yield* Console.log(`\nThe server saw these token requests: ${JSON.stringify(counters.tokenRequests)}`)
  })

const main = Effect.gen(function*() {
  const server = yield* TestServer.TestServer
  yield* Console.log(`effect-oauth demo against the embedded authorization server at ${server.url}`)
  yield* clientCredentials
  const browserOpened: Array<string> = []
  yield* userLogin(browserOpened).pipe(Effect.provide(nodeApp(server, browserOpened)))
  yield* secondRun(browserOpened).pipe(Effect.provide(nodeApp(server, browserOpened)))
  yield* Console.log("\nDone.")
}).pipe(
  Effect.provide(
    Layer.mergeAll(TestServer.layer(), NodeHttpClient.layerUndici, TokenStore.layerMemory)
  ),
  Effect.ensuring(Effect.sync(() => Fs.rmSync(directory, { recursive: true, force: true }))),
  Effect.tapErrorCause((cause) => Console.error("The demo failed:", cause))
)

NodeRuntime.runMain(main)
