/**
 * The bundle a SPA pays for effect-oauth's browser login, measured with esbuild (bundled, minified,
 * tree-shaken, ESM for browsers, then gzip -9): an app using `login`, `completeLogin`,
 * `AuthorizedHttpClient` and the `sessionStorage` store, minus the same app's skeleton on `effect` +
 * `@effect/platform` alone (an Effect program making a `fetch` request); the same app signing in
 * with OpenID Connect (`IdToken.openId`, the ID token checked against the provider's JWKS with
 * `jose`, its claims read with `IdToken.claims`); and `@badgateway/oauth2-client`'s `OAuth2Client` +
 * `OAuth2Fetch` for comparison.
 *
 * Runs alone with `tsx --tsconfig ../tsconfig.json src/bundle.ts`; `pnpm bench` includes it.
 */
import { build, type Plugin } from "esbuild"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import { gzipSync } from "node:zlib"

const here = Path.dirname(fileURLToPath(import.meta.url))
const packages = Path.join(here, "..", "..", "packages")

// Workspace packages resolve to their sources, as an app bundling them from npm would get their ESM.
const workspaceSources: Plugin = {
  name: "workspace-sources",
  setup(build) {
    build.onResolve({ filter: /^@effect-oauth\// }, (args) => {
      const [, pkg, sub] = /^@effect-oauth\/([a-z-]+)(?:\/(.+))?$/.exec(args.path)!
      return { path: Path.join(packages, pkg!, "src", `${sub ?? "index"}.ts`) }
    })
  }
}

/** The app's skeleton: an Effect program, a runtime with the fetch client, one request. */
const baseline = `
import * as Effect from "effect/Effect"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as HttpClient from "@effect/platform/HttpClient"
const runtime = ManagedRuntime.make(FetchHttpClient.layer)
export const onLoad = () => runtime.runPromise(Effect.gen(function*() {
  const http = yield* HttpClient.HttpClient
  const me = yield* http.get("https://api.example.com/me")
  return yield* me.json
}))
`

/** The same app signing in with effect-oauth. */
const withEffectOAuth = `
import * as Effect from "effect/Effect"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as ClientConfig from "@effect-oauth/core/ClientConfig"
import * as Provider from "@effect-oauth/core/Provider"
import * as AuthorizedHttpClient from "@effect-oauth/core/AuthorizedHttpClient"
import * as BrowserOAuth from "@effect-oauth/platform-browser/BrowserOAuth"
const runtime = ManagedRuntime.make(BrowserOAuth.layer({
  provider: Provider.make({
    authorizationEndpoint: "https://auth.example.com/authorize",
    tokenEndpoint: "https://auth.example.com/token"
  }),
  client: ClientConfig.make({ clientId: "spa" }),
  redirectUri: "https://app.example.com/callback",
  store: "sessionStorage"
}))
export const logIn = () => runtime.runPromise(BrowserOAuth.login())
export const onLoad = () => runtime.runPromise(Effect.gen(function*() {
  const oauth = yield* BrowserOAuth.BrowserOAuth
  if (oauth.isCallback(location)) yield* BrowserOAuth.completeLogin(location)
  const http = yield* AuthorizedHttpClient.AuthorizedHttpClient
  const me = yield* http.get("https://api.example.com/me")
  return yield* me.json
}))
`

/** The same app signing in with OpenID Connect, and reading the ID token's claims. */
const withOpenId = `
import * as Effect from "effect/Effect"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as ClientConfig from "@effect-oauth/core/ClientConfig"
import * as IdToken from "@effect-oauth/core/IdToken"
import * as OAuthClient from "@effect-oauth/core/OAuthClient"
import * as Provider from "@effect-oauth/core/Provider"
import * as Scopes from "@effect-oauth/core/Scopes"
import * as AuthorizedHttpClient from "@effect-oauth/core/AuthorizedHttpClient"
import * as BrowserOAuth from "@effect-oauth/platform-browser/BrowserOAuth"
const runtime = ManagedRuntime.make(BrowserOAuth.layer({
  provider: IdToken.openId(Provider.make({
    issuer: "https://auth.example.com",
    authorizationEndpoint: "https://auth.example.com/authorize",
    tokenEndpoint: "https://auth.example.com/token",
    jwksUri: "https://auth.example.com/jwks"
  })),
  client: ClientConfig.make({ clientId: "spa" }),
  redirectUri: "https://app.example.com/callback",
  scopes: Scopes.make("openid"),
  store: "sessionStorage"
}))
export const logIn = () => runtime.runPromise(BrowserOAuth.login())
export const onLoad = () => runtime.runPromise(Effect.gen(function*() {
  const oauth = yield* BrowserOAuth.BrowserOAuth
  if (oauth.isCallback(location)) yield* BrowserOAuth.completeLogin(location)
  const client = yield* OAuthClient.OAuthClient
  const claims = yield* IdToken.claims(yield* client.token)
  const http = yield* AuthorizedHttpClient.AuthorizedHttpClient
  const me = yield* http.get("https://api.example.com/me")
  return { claims, me: yield* me.json }
}))
`

const withBadgateway = `
import { OAuth2Client, OAuth2Fetch } from "@badgateway/oauth2-client"
const client = new OAuth2Client({
  server: "https://auth.example.com/",
  clientId: "spa",
  tokenEndpoint: "/token",
  authorizationEndpoint: "/authorize"
})
let stored = null
const wrapper = new OAuth2Fetch({
  client,
  getNewToken: () => null,
  getStoredToken: () => stored,
  storeToken: (token) => { stored = token }
})
export const logIn = async () => {
  location.assign(await client.authorizationCode.getAuthorizeUri({ redirectUri: "https://app.example.com/callback" }))
}
export const onLoad = async () => (await wrapper.fetch("https://api.example.com/me")).json()
`

const gzipBytes = async (contents: string): Promise<number> => {
  const result = await build({
    stdin: { contents, resolveDir: here, loader: "ts", sourcefile: "app.ts" },
    bundle: true,
    minify: true,
    treeShaking: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    write: false,
    plugins: [workspaceSources],
    logLevel: "silent"
  })
  return gzipSync(result.outputFiles[0]!.contents, { level: 9 }).length
}

/** The figures of the "bundle" entry of bench/results.json. */
export const measureBundles = async () => {
  const [base, ours, openId, theirs] = await Promise.all(
    [baseline, withEffectOAuth, withOpenId, withBadgateway].map(gzipBytes)
  )
  return {
    "effect-oauth-browser": { gzipBytesOverEffect: ours! - base!, gzipBytesTotal: ours! },
    "effect-oauth-browser-openid": { gzipBytesOverEffect: openId! - base!, gzipBytesTotal: openId! },
    "effect+platform": { gzipBytesTotal: base! },
    badgateway: { gzipBytesTotal: theirs! }
  }
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === Path.resolve(process.argv[1])) {
  console.table(await measureBundles())
}
