/**
 * osu! authorization-code login from a terminal: the loopback login opens the browser, the token is
 * stored in a file (0600), and the next run uses it (refreshing it when it expires): no browser.
 *
 *   OSU_CLIENT_ID=… OSU_CLIENT_SECRET=… OSU_REDIRECT_URI=http://127.0.0.1:7777/callback \
 *     pnpm --filter @effect-oauth/examples osu-login
 *
 * The redirect URI must be the one registered with the OAuth application (osu! compares the port).
 * Without the variables it runs against the embedded test server, configured as osu!, and shows
 * both runs at once: the first signs in (the browser simulated), the second reuses the token.
 */
import { AuthorizedHttpClient, Scopes } from "@effect-oauth/core"
import * as Osu from "@effect-oauth/core/providers/Osu"
import { FileTokenStore, NodeOAuth } from "@effect-oauth/platform-node"
import { NodeRuntime } from "@effect/platform-node"
import { Config, Console, Effect, Option } from "effect"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { simulatedBrowser } from "./internal/browser.js"
import { summary, target } from "./internal/target.js"

const program = Effect.gen(function*() {
  const osu = yield* target({ prefix: "OSU", name: "osu!", flavour: "osu", make: Osu.make, apiPath: "/api/v2" })
  const directory = Option.isSome(osu.server)
    ? Fs.mkdtempSync(Path.join(Os.tmpdir(), "effect-oauth-osu-login-"))
    : yield* FileTokenStore.defaultDirectory
  const redirectUri = yield* Config.option(Config.string("OSU_REDIRECT_URI"))
  const app = NodeOAuth.layer({
    provider: osu.provider,
    client: osu.client,
    scopes: Scopes.make("identify", "public"),
    directory,
    ...(Option.isSome(redirectUri) ? { redirectUri: redirectUri.value } : {}),
    ...(Option.isSome(osu.server) ? { openBrowser: simulatedBrowser(osu.server.value) } : {})
  })
  const run = (label: string) =>
    Effect.gen(function*() {
      yield* Console.log(`\n${label}`)
      yield* NodeOAuth.login
      const http = yield* AuthorizedHttpClient.AuthorizedHttpClient
      const me = yield* http.get(`${osu.api}/me`)
      yield* Console.log(`   GET /me -> ${me.status} ${summary(yield* me.json)}`)
    }).pipe(Effect.provide(app))
  yield* run(`Signing in (tokens are kept in ${directory})`)
  if (Option.isSome(osu.server)) {
    yield* run("A second run: the stored token is used, no browser")
    Fs.rmSync(directory, { recursive: true, force: true })
  } else {
    yield* Console.log("\nRun it again: the stored token is used, no browser.")
  }
})

NodeRuntime.runMain(Effect.scoped(program))
