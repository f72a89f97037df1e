/**
 * A small single-page app on `@effect-oauth/platform-browser`: log in with the redirect flow (PKCE),
 * show who is logged in, call an API, survive a reload (the token is in `sessionStorage`), log out
 * (revocation). Its configuration (the authorization server, the client id, the token store) comes
 * from `/config.json`, written by the server that serves the app (`server.ts`); with
 * `"localStorage"` the tabs of the app share one session.
 */
import type { OAuthClient } from "@effect-oauth/core"
import { AuthorizedHttpClient, ClientConfig, Provider, Scopes } from "@effect-oauth/core"
import { BrowserOAuth } from "@effect-oauth/platform-browser"
import type { Layer } from "effect"
import { Effect, ManagedRuntime } from "effect"
import { describeError, show } from "./page.js"

interface Config {
  readonly serverUrl: string
  readonly clientId: string
  readonly store: "sessionStorage" | "localStorage"
}

const element = (id: string) => document.getElementById(id)!

const start = async () => {
  const config = (await (await fetch("/config.json")).json()) as Config
  const provider = Provider.make({
    name: "test-server",
    issuer: config.serverUrl,
    authorizationEndpoint: `${config.serverUrl}/authorize`,
    tokenEndpoint: `${config.serverUrl}/token`,
    revocationEndpoint: `${config.serverUrl}/revoke`,
    // The API is served by the same test server: its origin is the one trusted with the token.
    apiBaseUrl: `${config.serverUrl}/api`,
    clientAuthentication: "none"
  })
  const layer: Layer.Layer<
    BrowserOAuth.BrowserOAuth | OAuthClient.OAuthClient | AuthorizedHttpClient.AuthorizedHttpClient,
    unknown
  > = BrowserOAuth.layer({
    provider,
    client: ClientConfig.make({ clientId: config.clientId }),
    scopes: Scopes.make<ReadonlyArray<string>>("read"),
    redirectUri: `${location.origin}/callback`,
    store: config.store === "localStorage" ? BrowserOAuth.localStorage() : BrowserOAuth.sessionStorage
  })
  const runtime = ManagedRuntime.make(layer)
  const run = <A>(
    effect: Effect.Effect<
      A,
      unknown,
      BrowserOAuth.BrowserOAuth | OAuthClient.OAuthClient | AuthorizedHttpClient.AuthorizedHttpClient
    >
  ) =>
    runtime.runPromise(effect.pipe(Effect.tapError((error) => Effect.sync(() => show("error", describeError(error))))))

  const whoAmI = Effect.gen(function*() {
    const http = yield* AuthorizedHttpClient.AuthorizedHttpClient
    const response = yield* http.get(`${config.serverUrl}/me`)
    const body = (yield* response.json) as { readonly username?: string }
    show("user", body.username ?? "?")
    show("status", "Signed in.")
  })

  const callApi = Effect.gen(function*() {
    const http = yield* AuthorizedHttpClient.AuthorizedHttpClient
    const response = yield* http.get(`${config.serverUrl}/api/items`)
    show("api", `GET /api/items -> ${response.status} ${JSON.stringify(yield* response.json)}`)
    return response.status
  })

  element("login").onclick = () => void run(BrowserOAuth.login())
  element("call").onclick = () => void run(callApi).catch(() => undefined)
  element("logout").onclick = () =>
    void run(Effect.zipRight(
      BrowserOAuth.logout,
      Effect.sync(() => {
        show("user", "nobody")
        show("status", "Signed out.")
        show("api", "")
      })
    ))
  let ok = 0
  let failed = 0
  let polling: ReturnType<typeof setInterval> | undefined
  element("poll").onclick = () => {
    if (polling !== undefined) return
    polling = setInterval(() => {
      runtime.runPromise(callApi).then(
        (status) => status === 200 ? ok++ : failed++,
        () => failed++
      ).finally(() => show("polled", `${ok} ok, ${failed} failed`))
    }, 200)
  }

  const service = await runtime.runPromise(BrowserOAuth.BrowserOAuth)
  if (service.isCallback(location)) {
    try {
      await run(BrowserOAuth.completeLogin(location))
    } catch {
      show("status", "The login failed.")
      return
    }
  }
  await run(whoAmI).catch(() => show("status", "Signed out."))
}

void start()
