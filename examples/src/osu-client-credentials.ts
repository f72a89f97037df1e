/**
 * osu! with client credentials: fetch a user and a beatmap.
 *
 *   OSU_CLIENT_ID=… OSU_CLIENT_SECRET=… pnpm --filter @effect-oauth/examples osu-client-credentials
 *
 * Without the variables it runs against the embedded test server, configured as osu!.
 */
import { AuthorizedHttpClient, OAuthClient, Scopes, TokenStore } from "@effect-oauth/core"
import * as Osu from "@effect-oauth/core/providers/Osu"
import { NodeOAuth } from "@effect-oauth/platform-node"
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect, Layer } from "effect"
import { summary, target } from "./internal/target.js"

const program = Effect.gen(function*() {
  const osu = yield* target({ prefix: "OSU", name: "osu!", flavour: "osu", make: Osu.make, apiPath: "/api/v2" })
  // The grant fixes the scopes: this client holds ScopeSet<"public">, and the compiler knows it.
  const api = AuthorizedHttpClient.layer().pipe(
    Layer.provideMerge(OAuthClient.layer({
      provider: osu.provider,
      client: osu.client,
      session: OAuthClient.clientCredentials(Scopes.make("public"))
    })),
    Layer.provide([TokenStore.layerMemory, NodeOAuth.layerHttpClient])
  )
  yield* Effect.gen(function*() {
    const http = yield* AuthorizedHttpClient.AuthorizedHttpClient
    const user = yield* http.get(`${osu.api}/users/2`)
    yield* Console.log(`GET /users/2 -> ${user.status} ${summary(yield* user.json)}`)
    const beatmap = yield* http.get(`${osu.api}/beatmaps/129891`)
    yield* Console.log(`GET /beatmaps/129891 -> ${beatmap.status} ${summary(yield* beatmap.json)}`)
    const scopes = yield* Effect.flatMap(OAuthClient.OAuthClient, (client) => client.scopes)
    yield* Console.log(`The token's scopes: ${Scopes.format(scopes)} (one token request, shared by both calls)`)
  }).pipe(Effect.provide(api))
})

NodeRuntime.runMain(Effect.scoped(program))
