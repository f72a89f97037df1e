/**
 * osu! and Spotify side by side in one program: two API clients, each a service of its own
 * (`AuthorizedHttpClient.Tag`), each with its own slot, token and `Granted` scopes.
 *
 * - `OsuApi` holds a client-credentials token for `public`;
 * - `SpotifyApi` holds the token of a user, alice, who signed in earlier (her token is in the store).
 *
 * Each call says what it needs with `requireScopes(provider, …)`, and the compiler checks it against
 * that provider's layer: `Granted` is keyed by provider, so a Spotify scope never satisfies an osu!
 * need. Each client sends its token only to its own API: asking `OsuApi` for a Spotify URL fails
 * with `UntrustedOrigin`, sending nothing.
 *
 *   pnpm --filter @effect-oauth/examples osu-and-spotify
 *
 * It runs offline, against two embedded test servers (`@effect-oauth/testing`) on loopback ports,
 * one configured as osu!, the other as Spotify; the presets are pointed at them.
 */
import { AuthorizedHttpClient, OAuthClient, type Provider, Scopes, TokenStore } from "@effect-oauth/core"
import * as Osu from "@effect-oauth/core/providers/Osu"
import * as Spotify from "@effect-oauth/core/providers/Spotify"
import { NodeOAuth } from "@effect-oauth/platform-node"
import { TestServer } from "@effect-oauth/testing"
import { NodeRuntime } from "@effect/platform-node"
import { Clock, Console, Effect, Layer, Option } from "effect"
import { summary } from "./internal/target.js"

class OsuApi extends AuthorizedHttpClient.Tag("OsuApi")<OsuApi>() {}
class SpotifyApi extends AuthorizedHttpClient.Tag("SpotifyApi")<SpotifyApi>() {}

/** A preset pointed at a test server: the preset's own type, scopes and rules, the server's endpoints. */
const at = <P>(
  make: (overrides: Provider.Overrides) => P,
  server: TestServer.TestServer.Service,
  apiPath: string
) =>
  make({
    authorizationEndpoint: server.authorizationEndpoint,
    tokenEndpoint: server.tokenEndpoint,
    revocationEndpoint: server.revocationEndpoint,
    apiBaseUrl: `${server.url}${apiPath}`
  })

const program = Effect.gen(function*() {
  const osuServer = yield* TestServer.make({ flavour: "osu" })
  const spotifyServer = yield* TestServer.make({ flavour: "spotify" })
  yield* Console.log(
    `Running against two embedded test servers: osu! at ${osuServer.url}, Spotify at ${spotifyServer.url}.`
  )
  const osu: Osu.Osu = at(Osu.make, osuServer, "/api/v2")
  const spotify: Spotify.Spotify = at(Spotify.make, spotifyServer, "/v1")
  const osuApi = `${osuServer.url}/api/v2`
  const spotifyApi = `${spotifyServer.url}/v1`

  // alice signed in to Spotify earlier: her token is in the store, under her slot's key.
  const store = yield* TokenStore.makeMemory
  const alice = OAuthClient.user("alice")
  const issued = yield* spotifyServer.issueToken({ scopes: ["user-read-private", "user-read-email"] })
  yield* store.set(
    OAuthClient.defaultKey(spotify, spotifyServer.client, alice),
    TestServer.toToken(issued, yield* Clock.currentTimeMillis),
    TokenStore.expectationOf(Option.none())
  )

  const apis = Layer.mergeAll(
    OsuApi.layer({
      provider: osu,
      client: osuServer.client,
      session: OAuthClient.clientCredentials(Scopes.make("public"))
    }),
    SpotifyApi.layer({ provider: spotify, client: spotifyServer.client, session: alice })
  ).pipe(
    Layer.provide([Layer.succeed(TokenStore.TokenStore, store), NodeOAuth.layerHttpClient])
  )

  // Each call needs a scope of its own provider; the layers above provide exactly these.
  const osuUser = Effect.flatMap(OsuApi, (http) => http.get(`${osuApi}/users/2`)).pipe(
    AuthorizedHttpClient.requireScopes(osu, "public")
  )
  const spotifyMe = Effect.flatMap(SpotifyApi, (http) => http.get(`${spotifyApi}/me`)).pipe(
    AuthorizedHttpClient.requireScopes(spotify, "user-read-private")
  )
  // The osu! client asked for a Spotify URL: its token stays home.
  const misdirected = Effect.flatMap(OsuApi, (http) => http.get(`${spotifyApi}/me`))

  yield* Effect.gen(function*() {
    const [user, me] = yield* Effect.all([osuUser, spotifyMe], { concurrency: 2 })
    yield* Console.log(`osu!:    GET /api/v2/users/2 -> ${user.status} ${summary(yield* user.json)}`)
    yield* Console.log(`Spotify: GET /v1/me -> ${me.status} ${summary(yield* me.json)}`)
    const refused = yield* Effect.flip(misdirected)
    yield* Console.log(`osu! client asked for the Spotify API -> ${refused._tag} (${refused.reason}), nothing sent`)
  }).pipe(Effect.provide(apis))

  // Each server accepts only the tokens it issued: a 200 on each means each token went home.
  for (const [name, server] of [["osu!", osuServer], ["Spotify", spotifyServer]] as const) {
    const counters = yield* server.counters
    const requests = Object.values(counters.tokenRequests).reduce((sum, o) => sum + o.ok + o.error, 0)
    yield* Console.log(
      `The ${name} server: ${requests} token request(s), API calls by status ${
        JSON.stringify(counters.resourceRequests)
      }`
    )
  }
})

NodeRuntime.runMain(Effect.scoped(program))
