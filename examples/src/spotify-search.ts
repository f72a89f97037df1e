/**
 * Spotify with client credentials: a search. Client credentials carries no user scopes, so the
 * session asks for none (asking for one would not compile).
 *
 *   SPOTIFY_CLIENT_ID=… SPOTIFY_CLIENT_SECRET=… pnpm --filter @effect-oauth/examples spotify-search [query]
 *
 * Without the variables it runs against the embedded test server, configured as Spotify.
 */
import { AuthorizedHttpClient, OAuthClient, Scopes, TokenStore } from "@effect-oauth/core"
import * as Spotify from "@effect-oauth/core/providers/Spotify"
import { NodeOAuth } from "@effect-oauth/platform-node"
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect, Layer } from "effect"
import { target } from "./internal/target.js"

interface SearchResult {
  readonly tracks?: {
    readonly total?: number
    readonly items?: ReadonlyArray<
      { readonly name?: string; readonly artists?: ReadonlyArray<{ readonly name?: string }> }
    >
  }
}

const program = Effect.gen(function*() {
  const spotify = yield* target({
    prefix: "SPOTIFY",
    name: "Spotify",
    flavour: "spotify",
    make: Spotify.make,
    apiPath: "/v1"
  })
  const query = process.argv[2] ?? "daft punk"
  const api = AuthorizedHttpClient.layer().pipe(
    Layer.provideMerge(OAuthClient.layer({
      provider: spotify.provider,
      client: spotify.client,
      session: OAuthClient.clientCredentials(Scopes.empty)
    })),
    Layer.provide([TokenStore.layerMemory, NodeOAuth.layerHttpClient])
  )
  const result = yield* Effect.gen(function*() {
    const http = yield* AuthorizedHttpClient.AuthorizedHttpClient
    const url = new URL(`${spotify.api}/search`)
    url.searchParams.set("q", query)
    url.searchParams.set("type", "track")
    url.searchParams.set("limit", "5")
    const response = yield* http.get(url)
    return { status: response.status, body: (yield* response.json) as SearchResult }
  }).pipe(Effect.provide(api))
  yield* Console.log(`GET /search?q=${query}&type=track -> ${result.status}, ${result.body.tracks?.total ?? 0} tracks`)
  for (const track of result.body.tracks?.items ?? []) {
    yield* Console.log(`  ${track.name ?? "?"} — ${(track.artists ?? []).map((a) => a.name).join(", ")}`)
  }
})

NodeRuntime.runMain(Effect.scoped(program))
