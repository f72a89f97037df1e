/**
 * Composing the layers by hand, piece by piece, in an Effect application: the HTTP client, a token
 * store, the OAuthClient slot (and its refresh fiber), the authorized client, and a service of the
 * application's own that depends only on `AuthorizedHttpClient`.
 *
 *   pnpm --filter @effect-oauth/examples manual-composition
 *
 * It reads `OSU_CLIENT_ID` / `OSU_CLIENT_SECRET` when set; otherwise it runs against the embedded
 * test server, configured as osu!.
 */
import { AuthorizedHttpClient, OAuthClient, Scopes, TokenStore } from "@effect-oauth/core"
import * as Osu from "@effect-oauth/core/providers/Osu"
import { NodeHttpClient, NodeRuntime } from "@effect/platform-node"
import { Console, Context, Effect, Layer } from "effect"
import { summary, target } from "./internal/target.js"

/** The application's own service: it knows nothing of OAuth, only of an HttpClient that is. */
class Users extends Context.Tag("examples/Users")<Users, {
  readonly byId: (id: number) => Effect.Effect<unknown, AuthorizedHttpClient.Error>
}>() {}

const UsersLive = (api: string) =>
  Layer.effect(
    Users,
    Effect.map(AuthorizedHttpClient.AuthorizedHttpClient, (http) => ({
      byId: (id: number) => Effect.flatMap(http.get(`${api}/users/${id}`), (response) => response.json)
    }))
  )

const program = Effect.gen(function*() {
  const osu = yield* target({ prefix: "OSU", name: "osu!", flavour: "osu", make: Osu.make, apiPath: "/api/v2" })

  // 1. The transport: Node's undici-based HttpClient.
  const Http = NodeHttpClient.layerUndici
  // 2. Where tokens live: memory here; FileTokenStore, a KeyValueStore or callbacks elsewhere.
  const Store = TokenStore.layerMemory
  // 3. One token slot with its background refresh fiber; it needs the two layers above.
  const Client = OAuthClient.layer({
    provider: osu.provider,
    client: osu.client,
    session: OAuthClient.clientCredentials(Scopes.make("public"))
  }).pipe(Layer.provide([Http, Store]))
  // 4. The authorized HttpClient over the slot and the transport.
  const Authorized = AuthorizedHttpClient.layer().pipe(Layer.provide([Client, Http]))
  // 5. The application's services over it.
  const App = UsersLive(osu.api).pipe(Layer.provide(Authorized))

  yield* Effect.gen(function*() {
    const users = yield* Users
    const [a, b] = yield* Effect.all([users.byId(2), users.byId(3)], { concurrency: 2 })
    yield* Console.log(`user 2: ${summary(a)}`)
    yield* Console.log(`user 3: ${summary(b)}`)
  }).pipe(Effect.provide(App))
})

NodeRuntime.runMain(Effect.scoped(program))
