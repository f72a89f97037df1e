/**
 * The README's first program, verbatim: an osu! client-credentials client (needs OSU_CLIENT_ID and
 * OSU_CLIENT_SECRET). Kept here so that `pnpm check` type-checks it; `osu-client-credentials.ts` is the
 * runnable example, which also runs without credentials.
 */
import { AuthorizedHttpClient, ClientConfig, OAuthClient, Scopes, TokenStore } from "@effect-oauth/core"
import * as Osu from "@effect-oauth/core/providers/Osu"
import { NodeHttpClient, NodeRuntime } from "@effect/platform-node"
import { Console, Effect, Layer } from "effect"

const OsuApi = AuthorizedHttpClient.layer().pipe(
  Layer.provideMerge(
    OAuthClient.layerConfig({
      provider: Osu.provider,
      client: ClientConfig.config("OSU"), // OSU_CLIENT_ID and OSU_CLIENT_SECRET (read as Redacted)
      session: OAuthClient.clientCredentials(Scopes.make("public"))
    })
  ),
  Layer.provide([TokenStore.layerMemory, NodeHttpClient.layerUndici])
)

const program = Effect.gen(function*() {
  const http = yield* AuthorizedHttpClient.AuthorizedHttpClient
  const response = yield* http.get("https://osu.ppy.sh/api/v2/users/2")
  yield* Console.log(yield* response.json)
})

NodeRuntime.runMain(program.pipe(Effect.provide(OsuApi)))
