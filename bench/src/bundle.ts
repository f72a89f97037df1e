/**
 * The bundle a SPA pays for effect-oauth's browser login, measured with esbuild (bundled, minified,
 * tree-shaken, ESM for browsers, then gzip -9). The baseline is what an Effect SPA has anyway: one
 * request on `fetch`, its JSON decoded with `HttpClientResponse.schemaBodyJson` and held in a
 * `SubscriptionRef`. Over it: the same app using `login`, `completeLogin`, `AuthorizedHttpClient` and
 * the `sessionStorage` store; the same app signing in with OpenID Connect (`IdToken.openId`, the ID
 * token checked against the provider's JWKS with `jose`, its claims read with `IdToken.claims`); and
 * `@badgateway/oauth2-client`'s `OAuth2Client` + `OAuth2Fetch` for comparison. The figure over
 * `effect` + `@effect/platform` alone (one `fetch` request, nothing decoded) is kept beside it, and
 * so are two parts of the OAuth SPA measured on their own (the error classes; a login and its code
 * exchange without the client, the store or the authorized client), to show where its bytes go.
 * `largest` lists the ten input files that add the most minified bytes to the plain OAuth SPA over
 * the baseline (from esbuild's metafile).
 *
 * Runs alone with `tsx --tsconfig ../tsconfig.json src/bundle.ts`; `pnpm bench` includes it.
 */
import { build, type Metafile, type Plugin } from "esbuild"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import { gzipSync } from "node:zlib"

const here = Path.dirname(fileURLToPath(import.meta.url))
const root = Path.join(here, "..", "..")
const packages = Path.join(root, "packages")

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

/** The bare skeleton: an Effect program, a runtime with the fetch client, one request. */
const effectAndPlatform = `
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

/**
 * The SPA: a runtime over `layer`, an `onLoad` that runs `before`, then reads /me with the client
 * `client`, decodes it with `schemaBodyJson` and sets the `SubscriptionRef` the view follows.
 */
const spa = (options: {
  readonly imports: string
  readonly layer: string
  readonly client: string
  readonly before?: string
  readonly extra?: string
}) => `
import * as Effect from "effect/Effect"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Schema from "effect/Schema"
import * as SubscriptionRef from "effect/SubscriptionRef"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
${options.imports}
const Me = Schema.Struct({ id: Schema.String, name: Schema.String })
export const me = Effect.runSync(SubscriptionRef.make<typeof Me.Type | undefined>(undefined))
const runtime = ManagedRuntime.make(${options.layer})
${options.extra ?? ""}
export const onLoad = () => runtime.runPromise(Effect.gen(function*() {
  ${options.before ?? ""}
  const http = yield* ${options.client}
  const user = yield* Effect.flatMap(http.get("https://api.example.com/me"), HttpClientResponse.schemaBodyJson(Me))
  yield* SubscriptionRef.set(me, user)
  return user
}))
`

/** The baseline: the SPA on `fetch`, without effect-oauth. */
const baseline = spa({
  imports: `
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as HttpClient from "@effect/platform/HttpClient"`,
  layer: "FetchHttpClient.layer",
  client: "HttpClient.HttpClient"
})

/** The same app signing in with effect-oauth. */
const withEffectOAuth = spa({
  imports: `
import * as ClientConfig from "@effect-oauth/core/ClientConfig"
import * as Provider from "@effect-oauth/core/Provider"
import * as AuthorizedHttpClient from "@effect-oauth/core/AuthorizedHttpClient"
import * as BrowserOAuth from "@effect-oauth/platform-browser/BrowserOAuth"`,
  layer: `BrowserOAuth.layer({
  provider: Provider.make({
    authorizationEndpoint: "https://auth.example.com/authorize",
    tokenEndpoint: "https://auth.example.com/token"
  }),
  client: ClientConfig.make({ clientId: "spa" }),
  redirectUri: "https://app.example.com/callback",
  store: BrowserOAuth.sessionStorage
})`,
  extra: `export const logIn = () => runtime.runPromise(BrowserOAuth.login())`,
  before: `const oauth = yield* BrowserOAuth.BrowserOAuth
  if (oauth.isCallback(location)) yield* BrowserOAuth.completeLogin(location)`,
  client: "AuthorizedHttpClient.AuthorizedHttpClient"
})

/** The same app signing in with OpenID Connect, and reading the ID token's claims. */
const withOpenId = spa({
  imports: `
import * as ClientConfig from "@effect-oauth/core/ClientConfig"
import * as IdToken from "@effect-oauth/core/IdToken"
import * as OAuthClient from "@effect-oauth/core/OAuthClient"
import * as Provider from "@effect-oauth/core/Provider"
import * as Scopes from "@effect-oauth/core/Scopes"
import * as AuthorizedHttpClient from "@effect-oauth/core/AuthorizedHttpClient"
import * as BrowserOAuth from "@effect-oauth/platform-browser/BrowserOAuth"`,
  layer: `BrowserOAuth.layer({
  provider: IdToken.openId(Provider.make({
    issuer: "https://auth.example.com",
    authorizationEndpoint: "https://auth.example.com/authorize",
    tokenEndpoint: "https://auth.example.com/token",
    jwksUri: "https://auth.example.com/jwks"
  })),
  client: ClientConfig.make({ clientId: "spa" }),
  redirectUri: "https://app.example.com/callback",
  scopes: Scopes.make("openid"),
  store: BrowserOAuth.sessionStorage
})`,
  extra: `export const logIn = () => runtime.runPromise(BrowserOAuth.login())`,
  before: `const oauth = yield* BrowserOAuth.BrowserOAuth
  if (oauth.isCallback(location)) yield* BrowserOAuth.completeLogin(location)
  const client = yield* OAuthClient.OAuthClient
  yield* IdToken.claims(yield* client.token)`,
  client: "AuthorizedHttpClient.AuthorizedHttpClient"
})

/**
 * Two parts of the plain SPA on their own, to show where its bytes go: the error classes alone, and
 * a login with its code exchange (`Authorization.start` + `complete` over `TokenEndpoint`, with no
 * `OAuthClient`, no store and no `AuthorizedHttpClient`).
 */
const errorsAlone = spa({
  imports: `
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as HttpClient from "@effect/platform/HttpClient"
import * as OAuthError from "@effect-oauth/core/OAuthError"`,
  layer: "FetchHttpClient.layer",
  extra: `export const errors = [OAuthError.TokenRequestError, OAuthError.AuthorizationError, OAuthError.ScopeError,
  OAuthError.UntrustedOrigin, OAuthError.ReauthorizationRequired, OAuthError.ConfigurationError, OAuthError.StoreError,
  OAuthError.isFatal, OAuthError.isTransient]`,
  client: "HttpClient.HttpClient"
})

const loginAndExchange = spa({
  imports: `
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as HttpClient from "@effect/platform/HttpClient"
import * as Authorization from "@effect-oauth/core/Authorization"
import * as ClientConfig from "@effect-oauth/core/ClientConfig"
import * as Provider from "@effect-oauth/core/Provider"
import * as TokenEndpoint from "@effect-oauth/core/TokenEndpoint"`,
  layer: "FetchHttpClient.layer",
  extra: `const provider = Provider.make({
  authorizationEndpoint: "https://auth.example.com/authorize",
  tokenEndpoint: "https://auth.example.com/token"
})
const client = ClientConfig.make({ clientId: "spa" })
const redirectUri = "https://app.example.com/callback"
export const logIn = () => runtime.runPromise(Authorization.start({ provider, client, redirectUri }))`,
  before: `const endpoint = yield* TokenEndpoint.make({ provider, client })
  const started = yield* Authorization.start({ provider, client, redirectUri })
  yield* Authorization.complete(endpoint, started.transaction, location.href)`,
  client: "HttpClient.HttpClient"
})

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

interface Bundle {
  readonly gzipBytes: number
  readonly metafile: Metafile
}

const bundle = async (contents: string): Promise<Bundle> => {
  const result = await build({
    stdin: { contents, resolveDir: here, loader: "ts", sourcefile: "app.ts" },
    bundle: true,
    minify: true,
    treeShaking: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    write: false,
    metafile: true,
    absWorkingDir: root,
    plugins: [workspaceSources],
    logLevel: "silent"
  })
  return { gzipBytes: gzipSync(result.outputFiles[0]!.contents, { level: 9 }).length, metafile: result.metafile }
}

/** Minified bytes each input file puts in the output, by its path from the repository's root. */
const bytesByInput = (metafile: Metafile): Map<string, number> => {
  const bytes = new Map<string, number>()
  for (const output of Object.values(metafile.outputs)) {
    for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
      // pnpm's store path (node_modules/.pnpm/<name>@<version>/node_modules/<name>/...) reads as
      // the package's own path.
      const name = input.replace(/^.*node_modules\//, "")
      bytes.set(name, (bytes.get(name) ?? 0) + bytesInOutput)
    }
  }
  return bytes
}

/** The ten input files adding the most minified bytes to `app` over `base`. */
const largest = (app: Metafile, base: Metafile) => {
  const before = bytesByInput(base)
  return [...bytesByInput(app)]
    .map(([input, bytes]) => ({ input, minifiedBytes: bytes - (before.get(input) ?? 0) }))
    .filter(({ minifiedBytes }) => minifiedBytes > 0)
    .sort((a, b) => b.minifiedBytes - a.minifiedBytes)
    .slice(0, 10)
}

/** The figures of the "bundle" entry of bench/results.json. */
export const measureBundles = async () => {
  const [bare, base, ours, openId, theirs, errors, login] = await Promise.all(
    [effectAndPlatform, baseline, withEffectOAuth, withOpenId, withBadgateway, errorsAlone, loginAndExchange].map(
      bundle
    )
  )
  const figures = (app: Bundle) => ({
    gzipBytesOverBaseline: app.gzipBytes - base!.gzipBytes,
    gzipBytesOverEffect: app.gzipBytes - bare!.gzipBytes,
    gzipBytesTotal: app.gzipBytes
  })
  return {
    "effect-oauth-browser": figures(ours!),
    "effect-oauth-browser-openid": figures(openId!),
    "effect-oauth-errors-alone": figures(errors!),
    "effect-oauth-login-and-exchange-alone": figures(login!),
    baseline: { gzipBytesTotal: base!.gzipBytes },
    "effect+platform": { gzipBytesTotal: bare!.gzipBytes },
    badgateway: { gzipBytesTotal: theirs!.gzipBytes },
    largest: largest(ours!.metafile, base!.metafile)
  }
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === Path.resolve(process.argv[1])) {
  const { largest, ...figures } = await measureBundles()
  console.table(figures)
  console.table(largest)
}
