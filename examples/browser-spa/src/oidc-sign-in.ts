/**
 * Sign in with any OpenID provider from a single-page app: the provider is discovered from its
 * issuer (`/.well-known/openid-configuration`, read across origins), `IdToken.openId` turns on the
 * nonce and the ID token checks, `BrowserOAuth` runs the redirect login (the transaction, nonce
 * included, waits in `sessionStorage`), and the page shows the checked ID token's claims and the
 * userinfo. The issuer and the client id come from `/config.json`, written by the server that
 * serves the app (`serve.ts`): the embedded test server, or any provider that allows this origin.
 */
import type { Token } from "@effect-oauth/core"
import { ClientConfig, Discovery, IdToken, Scopes, UserInfo } from "@effect-oauth/core"
import { BrowserOAuth } from "@effect-oauth/platform-browser"
import { FetchHttpClient } from "@effect/platform"
import { Effect, ManagedRuntime, Option } from "effect"
import { describeError, show } from "./page.js"

interface Config {
  readonly serverUrl: string
  readonly clientId: string
}

const start = async () => {
  const config = (await (await fetch("/config.json")).json()) as Config
  // A SPA is a public client: no secret, whatever the metadata offers.
  const discovered = await Effect.runPromise(
    Discovery.discover(config.serverUrl, { clientAuthentication: "none" }).pipe(Effect.provide(FetchHttpClient.layer))
  )
  const provider = IdToken.openId(discovered)
  const runtime = ManagedRuntime.make(BrowserOAuth.layer({
    provider,
    client: ClientConfig.make({ clientId: config.clientId }),
    scopes: Scopes.make<ReadonlyArray<string>>("openid", "profile", "email"),
    redirectUri: `${location.origin}${location.pathname}`,
    store: BrowserOAuth.sessionStorage
  }))

  const showUser = (token: Token.Token) =>
    Effect.gen(function*() {
      const claims = Option.getOrThrow(yield* IdToken.claims(token))
      show("claims", `ID token: iss ${claims.iss}, sub ${claims.sub}, aud ${String(claims.aud)}`)
      const user = yield* UserInfo.fetch(provider, token)
      show("userinfo", `userinfo: ${user.name ?? "?"} <${user.email ?? "?"}>`)
      show("status", `Signed in as ${user.preferred_username ?? user.sub}.`)
    }).pipe(Effect.provide(FetchHttpClient.layer))

  const run = <A, E>(effect: Effect.Effect<A, E, BrowserOAuth.BrowserOAuth>) =>
    runtime.runPromise(effect.pipe(Effect.tapError((error) => Effect.sync(() => show("error", describeError(error))))))

  document.getElementById("login")!.onclick = () => void run(BrowserOAuth.login())
  const service = await runtime.runPromise(BrowserOAuth.BrowserOAuth)
  if (!service.isCallback(location)) {
    show("status", "Signed out.")
    return
  }
  try {
    // The callback: state, issuer and code checked, the code exchanged, the ID token checked
    // against the JWKS, the transaction's nonce, the issuer and the client id, and only then stored.
    await run(Effect.flatMap(BrowserOAuth.completeLogin(location), showUser))
  } catch {
    show("status", "The sign-in failed.")
  }
}

void start()
