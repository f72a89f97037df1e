/**
 * An osu! chat bot: client credentials with delegation (`delegate` + `chat.write`), so the bot
 * writes as the user who owns the OAuth client (osu! requires that owner to be a bot account).
 *
 *   OSU_CLIENT_ID=… OSU_CLIENT_SECRET=… OSU_CHAT_TARGET=<user id> pnpm --filter @effect-oauth/examples osu-chat-bot
 *
 * Without the variables it runs against the embedded test server, configured as osu!.
 *
 * The scope request is checked by the compiler against osu!'s rules: `Scopes.make("public",
 * "delegate")` or `Scopes.make("chat.write")` here would not compile.
 */
import { AuthorizedHttpClient, OAuthClient, Scopes, TokenStore } from "@effect-oauth/core"
import * as Osu from "@effect-oauth/core/providers/Osu"
import { NodeOAuth } from "@effect-oauth/platform-node"
import { HttpClientRequest } from "@effect/platform"
import { NodeRuntime } from "@effect/platform-node"
import { Config, Console, Effect, Layer } from "effect"
import { summary, target } from "./internal/target.js"

/** Sends a private message; the effect's type says that it needs `chat.write`. */
const sendMessage = (api: string, targetId: number, message: string) =>
  Effect.gen(function*() {
    const http = yield* AuthorizedHttpClient.AuthorizedHttpClient
    const request = yield* HttpClientRequest.post(`${api}/chat/new`).pipe(
      HttpClientRequest.bodyJson({ target_id: targetId, message, is_action: false })
    )
    const response = yield* http.execute(request)
    return { status: response.status, body: yield* response.json }
  }).pipe(AuthorizedHttpClient.requireScopes(Osu.provider, "chat.write"))

const program = Effect.gen(function*() {
  const osu = yield* target({ prefix: "OSU", name: "osu!", flavour: "osu", make: Osu.make, apiPath: "/api/v2" })
  const targetId = yield* Config.integer("OSU_CHAT_TARGET").pipe(Config.withDefault(2))
  const bot = AuthorizedHttpClient.layer().pipe(
    Layer.provideMerge(OAuthClient.layer({
      provider: osu.provider,
      client: osu.client,
      session: OAuthClient.clientCredentials(Scopes.make("delegate", "chat.write"))
    })),
    Layer.provide([TokenStore.layerMemory, NodeOAuth.layerHttpClient])
  )
  const sent = yield* sendMessage(osu.api, targetId, "hello from effect-oauth").pipe(Effect.provide(bot))
  yield* Console.log(`POST /chat/new -> ${sent.status} ${summary(sent.body)}`)
})

NodeRuntime.runMain(Effect.scoped(program))
