/**
 * The demo: the OAuth flows end to end against the embedded authorization server of
 * `@effect-oauth/testing`, on real loopback sockets, with no credentials and no network.
 *
 *   1. client credentials: a token, then an API call through `AuthorizedHttpClient`;
 *   2. authorization code with PKCE: start, the (simulated) browser approves, the callback is
 *      checked and the code exchanged;
 *   3. an API call as the user, a refresh with a rotated refresh token;
 *   4. a second "run": a fresh client reads the persisted token and calls the API without a login.
 *
 * Tokens are printed redacted.
 */
import { Authorization, AuthorizedHttpClient, OAuthClient, Scopes, TokenEndpoint, TokenStore } from "@effect-oauth/core"
import { TestServer } from "@effect-oauth/testing"
import { NodeHttpClient, NodeKeyValueStore, NodeRuntime } from "@effect/platform-node"
import { Console, Effect, Layer, Option } from "effect"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"

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

const userLogin = Effect.gen(function*() {
  yield* Console.log("\n2. Authorization code with PKCE")
  const server = yield* TestServer.TestServer
  const provider = server.provider()
  const login = yield* Authorization.start({
    provider,
    client: server.client,
    redirectUri: "http://127.0.0.1:8765/callback",
    scopes: Scopes.make("read", "write")
  })
  const url = new URL(login.url)
  yield* Console.log(
    `   sending the user to ${url.origin}${url.pathname} (code_challenge_method=${
      url.searchParams.get("code_challenge_method")
    }, state <redacted>)`
  )
  const callback = yield* server.authorize(login.url)
  yield* Console.log("   the server redirected back to the callback with a code and the state; checking it")
  const endpoint = yield* TokenEndpoint.make({ provider, client: server.client })
  const token = yield* Authorization.complete(endpoint, login.transaction, callback)
  yield* Console.log(
    `   exchanged the code: ${describeToken(token)}, refresh token ${String(Option.getOrThrow(token.refreshToken))}`
  )
  const client = yield* OAuthClient.OAuthClient
  yield* client.setToken(token)

  yield* Console.log("\n3. Calling the API as the user, then refreshing")
  const me = yield* callMe
  yield* Console.log(`   GET /me -> ${me.status} ${JSON.stringify(me.body)}`)
  const refreshed = yield* client.refresh
  yield* Console.log(`   refreshed: ${describeToken(refreshed)} (the refresh token was rotated and persisted)`)
}).pipe(Effect.provide(app(OAuthClient.user("alice"), "demo/alice")))

const secondRun = Effect.gen(function*() {
  yield* Console.log("\n4. A second run: the persisted token is reused, no login")
  const client = yield* OAuthClient.OAuthClient
  const token = yield* client.token
  yield* Console.log(`   loaded from the store: ${describeToken(token)}`)
  const me = yield* callMe
  yield* Console.log(`   GET /me -> ${me.status} ${JSON.stringify(me.body)}`)
  const counters = yield* Effect.flatMap(TestServer.TestServer, (server) => server.counters)
  yield* Console.log(`\nThe server saw these token requests: ${JSON.stringify(counters.tokenRequests)}`)
}).pipe(Effect.provide(app(OAuthClient.user("alice"), "demo/alice")))

const directory = Fs.mkdtempSync(Path.join(Os.tmpdir(), "effect-oauth-demo-"))

const main = Effect.gen(function*() {
  const server = yield* TestServer.TestServer
  yield* Console.log(`effect-oauth demo against the embedded authorization server at ${server.url}`)
  yield* clientCredentials
  yield* userLogin
  yield* secondRun
  yield* Console.log("\nDone.")
}).pipe(
  Effect.provide(
    Layer.mergeAll(
      TestServer.layer(),
      NodeHttpClient.layerUndici,
      TokenStore.layerKeyValueStore().pipe(Layer.provide(NodeKeyValueStore.layerFileSystem(directory)))
    )
  ),
  Effect.ensuring(Effect.sync(() => Fs.rmSync(directory, { recursive: true, force: true }))),
  Effect.tapErrorCause((cause) => Console.error("The demo failed:", cause))
)

NodeRuntime.runMain(main)
