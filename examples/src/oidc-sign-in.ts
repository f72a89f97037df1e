/**
 * Sign in with any OpenID provider from a terminal: discovery of the issuer's metadata, the
 * loopback login (RFC 8252) with PKCE and a nonce, the ID token checked (signature against the
 * provider's JWKS, `iss`, `aud`, `exp`, the nonce, …), then its claims and the userinfo printed.
 *
 *   OIDC_ISSUER=https://accounts.example.com OIDC_CLIENT_ID=… [OIDC_CLIENT_SECRET=…] \
 *   [OIDC_REDIRECT_URI=http://127.0.0.1:7777/callback] pnpm --filter @effect-oauth/examples oidc-sign-in
 *
 * Without the variables it runs against the embedded test server of `@effect-oauth/testing` (an
 * OpenID provider too), with the browser simulated, and signs in twice: the second run finds the
 * stored token and opens no browser.
 */
import { ClientConfig, Discovery, IdToken, Scopes, UserInfo } from "@effect-oauth/core"
import { FileTokenStore, NodeOAuth } from "@effect-oauth/platform-node"
import { TestServer } from "@effect-oauth/testing"
import { NodeRuntime } from "@effect/platform-node"
import { Config, Console, Effect, Option } from "effect"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { simulatedBrowser } from "./internal/browser.js"

/** The provider named in the environment, or the embedded test server. */
const target = Effect.gen(function*() {
  const issuer = yield* Config.option(Config.all([Config.nonEmptyString("OIDC_ISSUER"), ClientConfig.config("OIDC")]))
  if (Option.isSome(issuer)) {
    const [url, client] = issuer.value
    yield* Console.log(`Signing in at ${url} as the client ${client.clientId} from the environment.`)
    return { issuer: url, client, server: Option.none<TestServer.TestServer.Service>() }
  }
  const server = yield* TestServer.make()
  yield* Console.log(
    `No OIDC_ISSUER / OIDC_CLIENT_ID in the environment: signing in at the embedded test server, ${server.issuer}.`
  )
  return { issuer: server.issuer, client: server.client, server: Option.some(server) }
})

const program = Effect.gen(function*() {
  const { client, issuer, server } = yield* target
  // The metadata names the endpoints, the JWKS and what the server supports; openId turns the
  // ID token checks on (and a nonce per login).
  const provider = IdToken.openId(yield* Discovery.discover(issuer))
  yield* Console.log(`Discovered ${issuer}: keys at ${provider.jwksUri}, userinfo at ${provider.userinfoEndpoint}.`)
  const directory = Option.isSome(server)
    ? Fs.mkdtempSync(Path.join(Os.tmpdir(), "effect-oauth-oidc-"))
    : yield* FileTokenStore.defaultDirectory
  const redirectUri = yield* Config.option(Config.string("OIDC_REDIRECT_URI"))
  const app = NodeOAuth.layer({
    provider,
    client,
    scopes: Scopes.make("openid", "profile", "email"),
    directory,
    ...(Option.isSome(redirectUri) ? { redirectUri: redirectUri.value } : {}),
    ...(Option.isSome(server) ? { openBrowser: simulatedBrowser(server.value) } : {})
  })
  const signIn = (label: string) =>
    Effect.gen(function*() {
      yield* Console.log(`\n${label}`)
      // A new login's ID token was checked before it was stored; a stored one was checked then.
      const token = yield* NodeOAuth.login
      const claims = yield* IdToken.claims(token)
      yield* Option.match(claims, {
        onNone: () => Console.log("   no ID token"),
        onSome: (c) =>
          Console.log(
            `   ID token checked: iss ${c.iss}, sub ${c.sub}, aud ${c.aud}, ` +
              `signed in at ${new Date((c.auth_time ?? c.iat) * 1000).toISOString()}`
          )
      })
      const user = yield* UserInfo.fetch(provider, token)
      yield* Console.log(`   userinfo: sub ${user.sub}, ${user.name ?? "(no name)"} <${user.email ?? "no email"}>`)
    }).pipe(Effect.provide(app))
  yield* signIn(`Signing in (tokens are kept in ${directory})`)
  if (Option.isSome(server)) {
    yield* signIn("A second run: the stored token is used, no browser")
    Fs.rmSync(directory, { recursive: true, force: true })
  }
  yield* Console.log("\nDone.")
})

NodeRuntime.runMain(Effect.scoped(program).pipe(Effect.provide(NodeOAuth.layerHttpClient)))
