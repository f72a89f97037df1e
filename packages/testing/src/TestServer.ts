/**
 * An in-process OAuth 2.0 authorization server and resource server for tests, demos and
 * benchmarks: client credentials, authorization code with PKCE S256, refresh with rotation and
 * reuse detection, device authorization (RFC 8628), revocation (RFC 7009), RFC 8414 metadata, and
 * a protected `/me`, `/api/*` and `/v1/*`; and OpenID Connect (signed ID tokens with a key made per
 * start, JWKS, UserInfo, RP-initiated logout), introspection (RFC 7662), PAR (RFC 9126), DPoP
 * (RFC 9449, with nonces and replay detection) and signed client assertions (RFC 7523). Switches change its lifetimes, latency and flavour
 * (RFC-style, osu!-like or Spotify-like), a fault queue injects failures, and counters tell what it
 * saw.
 *
 * Two transports serve the same server: `layer` listens on 127.0.0.1 on a free port (real
 * sockets), and `layerInMemory` also provides an `HttpClient` that calls it in the same runtime,
 * with no sockets. Every lifetime is read from Effect's `Clock`, so under `TestClock` the server
 * keeps the test's time on either transport.
 *
 * @since 0.1.0
 */
import * as Authorization from "@effect-oauth/core/Authorization"
import * as ClientConfig from "@effect-oauth/core/ClientConfig"
import * as Provider from "@effect-oauth/core/Provider"
import type { ScopeRules } from "@effect-oauth/core/ScopeRules"
import * as Scopes from "@effect-oauth/core/Scopes"
import * as Token from "@effect-oauth/core/Token"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as NodeHttpServerRequest from "@effect/platform-node/NodeHttpServerRequest"
import type * as HttpBody from "@effect/platform/HttpBody"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as Http from "node:http"
import * as internal from "./internal/authorizationServer.js"

/**
 * How the server behaves: `standard` (RFC error shapes, `WWW-Authenticate` on 401), `osu` (client
 * authentication in the body, 401 `invalid_request` for a bad refresh token, 401
 * `{"authentication":"basic"}` from the API without `WWW-Authenticate`, old access token revoked on
 * refresh, `identify` implied for the authorization-code grant) or `spotify` (Basic
 * authentication, refresh responses without `refresh_token`, `localhost` redirects refused).
 *
 * @since 0.1.0
 * @category models
 */
export type Flavour = internal.Flavour

/**
 * Which client authentication the token endpoint accepts from the confidential client: `any`
 * (default), only `client_secret_basic`, or only `client_secret_post`. The public client always
 * authenticates with `none` (its `client_id` in the body) and PKCE.
 *
 * @since 0.1.0
 * @category models
 */
export type ClientAuthenticationRequirement = internal.ClientAuthenticationRequirement

/**
 * The switches of {@link TestServer.Service.configure}; a change applies to every later request.
 *
 * - `accessTokenLifetimeSeconds` (3600): `expires_in` of new access tokens; 0 is allowed; `null`
 *   omits `expires_in` and the token never expires.
 * - `refreshTokenLifetimeSeconds` (`null`: refresh tokens never expire).
 * - `rotateRefreshTokens` (true): each refresh spends the refresh token and returns a new one.
 * - `latencyMillis` (0): every request waits this long (on the `Clock`) before it is handled.
 * - `denyAuthorization` (false): the user refuses: `/authorize` redirects with `error=access_denied`.
 * - `issParameter` (false): RFC 9207 `iss` in authorization responses, announced in the metadata.
 * - `flavour` (`standard`), `requireClientAuthentication` (`any`).
 * - `requiredScopes` ([]): scopes every protected route needs (a `?scope=` query adds more).
 * - `clockOffsetSeconds` (0): the server's clock runs this far ahead of the runtime's.
 * - `deviceCodeIntervalSeconds` (5), `deviceCodeLifetimeSeconds` (600).
 * - `redirectUris`: registered redirect URIs besides any `http` loopback one.
 * - `cors` (true): answers CORS preflights and names the caller's `Origin` in responses, for a SPA
 *   served from another origin.
 * - `idTokenLifetimeSeconds` (300); `idTokenFault` (`null`): every ID token issued is broken in
 *   one way — `badSignature`, `wrongAudience`, `wrongIssuer`, `wrongNonce`, `expired`, `unknownKid`
 *   (signed by a key the JWKS does not hold), `algNone`, `hs256PublicKey` (an HMAC keyed with the
 *   published public key), `multipleAudiencesNoAzp`, `badAtHash`, `badCodeHash`, `otherSubject` (`sub` is
 *   another user's).
 * - `userinfoSubject` (`null`: the ID token's `sub`): the `sub` that `/userinfo` answers with.
 * - `requirePushedAuthorizationRequests` (false): `/authorize` accepts only a pushed `request_uri`
 *   (and `provider()` then has `Authorization.pushed`, as discovery would give it).
 * - `requireDpop` (false): token requests need a DPoP proof (a proof is honoured whenever sent);
 *   `dpopNonce` (false): proofs must carry the server's `DPoP-Nonce` (`use_dpop_nonce` otherwise).
 * - `clientPublicJwk` (`null`): the confidential client's public key for `private_key_jwt`
 *   (`client_secret_jwt` is always accepted, keyed with the secret).
 *
 * @since 0.1.0
 * @category models
 */
export type Switches = internal.Switches

/**
 * A fault, applied once to the next request of its `path` (default: the token endpoint; `"*"`:
 * any path), in the order injected:
 *
 * - `{ status, body?, headers? }`: this answer instead of the real one;
 * - `{ headers }` or `{ body }` alone: the real answer with these headers added or this body;
 * - `{ delayMillis }`: wait (on the `Clock`) before answering; combines with the others;
 * - `{ dropConnection: true }`: the socket is destroyed with no answer (in memory: a transport error);
 * - `{ hang: true }`: no answer at all until the client gives up;
 * - `{ redirectTo }`: a 302 to that URL;
 * - `afterProcessing: true`: the server handles the request first (a refresh token is rotated) and
 *   then answers with the fault, as when a response is lost on the way back.
 *
 * @since 0.1.0
 * @category models
 */
export type Fault = internal.Fault

/**
 * Token requests of one grant type, by outcome.
 *
 * @since 0.1.0
 * @category models
 */
export type Outcomes = internal.Outcomes

/**
 * What the server saw since it started or since `resetCounters`:
 *
 * - `tokenRequests[grantType]`: `{ ok, error }` per grant type (the four supported ones are always
 *   present); requests answered by a fault are counted only under `faults`;
 * - `invalidGrant`: refused codes, refresh tokens and device codes (osu!'s 401 `invalid_request`
 *   for a refresh token included); `invalidClient`: failed client authentications;
 * - `resourceRequests[status]`: answers of every protected route (`/me`, `/api/*`, `/v1/*`);
 *   `meRequests[status]`: those of `/me` alone;
 * - `authorizationRequests`, `deviceAuthorizationRequests`, `revocations`, `faults` (faults applied);
 * - `jwksRequests`, `userinfoRequests`, `introspections`, `pushedAuthorizationRequests`,
 *   `dpopRejections` (proofs refused, `use_dpop_nonce` included), `clientAssertions` (accepted).
 *
 * @since 0.1.0
 * @category models
 */
export type Counters = internal.Counters

/**
 * The initial switches of a server.
 *
 * @since 0.1.0
 * @category models
 */
export type Options = Partial<Switches>

/**
 * The options of {@link TestServer.Service.issueToken}: granted scopes (default none), the access
 * token lifetime (default the `accessTokenLifetimeSeconds` switch; `null` never expires), whether a
 * refresh token comes with it (default true), and the client (default the confidential one).
 *
 * @since 0.1.0
 * @category models
 */
export type IssueTokenOptions = internal.IssueOptions

/**
 * A token minted directly by {@link TestServer.Service.issueToken}, as the raw strings a token
 * response would carry.
 *
 * @since 0.1.0
 * @category models
 */
export interface IssuedToken {
  readonly accessToken: string
  readonly refreshToken: string | undefined
  /** `expires_in` in seconds; `null` when the token never expires. */
  readonly lifetime: number | null
  readonly scopes: ReadonlyArray<string>
}

/**
 * An issued token as a client keeps it: a `Token` received at `receivedAt` (epoch ms), as if a
 * login had just returned it (for seeding a store or `OAuthClient.setToken` in a test).
 *
 * @since 0.1.0
 * @category constructors
 */
export const toToken = (issued: IssuedToken, receivedAt: number, version = 1): Token.Token =>
  new Token.Token({
    accessToken: Redacted.make(issued.accessToken),
    tokenType: "Bearer",
    refreshToken: Option.map(Option.fromNullable(issued.refreshToken), Redacted.make),
    expiresAt: issued.lifetime === null ? Option.none() : Option.some(receivedAt + issued.lifetime * 1000),
    issuedAt: receivedAt,
    scopes: Scopes.make(...issued.scopes),
    version
  })

/**
 * The options of {@link TestServer.Service.provider}: any `Provider.make` option; the endpoints
 * default to this server's and `clientAuthentication` to what the flavour expects.
 *
 * @since 0.1.0
 * @category models
 */
export type ProviderOptions = Partial<Provider.Options<string>>

/**
 * A preset's constructor, such as `Osu.make` or `Spotify.make`, for {@link TestServer.Service.provider}.
 *
 * @since 0.1.0
 * @category models
 */
export type Preset<S extends string, Rules extends ScopeRules<S>> = (
  overrides?: Provider.Overrides
) => Provider.Provider<S, Rules>

/**
 * @since 0.1.0
 * @category tags
 */
export class TestServer extends Context.Tag("@effect-oauth/testing/TestServer")<TestServer, TestServer.Service>() {}

/**
 * @since 0.1.0
 */
export declare namespace TestServer {
  /**
   * @since 0.1.0
   * @category models
   */
  export interface Service {
    /** The origin, such as `http://127.0.0.1:54321`. */
    readonly url: string
    /** Equal to `url`. */
    readonly issuer: string
    /** `url + "/token"` (also answered on `/oauth/token` and `/api/token`). */
    readonly tokenEndpoint: string
    /** `url + "/authorize"` (also answered on `/oauth/authorize`). */
    readonly authorizationEndpoint: string
    /** `url + "/revoke"`. */
    readonly revocationEndpoint: string
    /** `url + "/device/code"`. */
    readonly deviceAuthorizationEndpoint: string
    /** `url + "/me"`. */
    readonly meEndpoint: string
    /** `url + "/api"`: any path below answers JSON once the bearer token is accepted. */
    readonly apiBaseUrl: string
    /** `url + "/.well-known/oauth-authorization-server"`. */
    readonly metadataUrl: string
    /** `url + "/jwks"`: the public signing keys of ID tokens. */
    readonly jwksUri: string
    /** `url + "/userinfo"` (a token granted `openid`; Bearer or DPoP). */
    readonly userinfoEndpoint: string
    /** `url + "/introspect"` (RFC 7662). */
    readonly introspectionEndpoint: string
    /** `url + "/par"` (RFC 9126). */
    readonly pushedAuthorizationRequestEndpoint: string
    /** `url + "/logout"` (RP-initiated logout). */
    readonly endSessionEndpoint: string
    /** The registered confidential client; its secret needs RFC 6749 §2.3.1 form-encoding. */
    readonly client: ClientConfig.ClientConfig
    /** The registered public client (no secret: `none` and PKCE). */
    readonly publicClient: ClientConfig.ClientConfig
    /**
     * A core `Provider` for this server. Given options, a plain one (any scope). Given a preset's
     * constructor (`server.provider(Osu.make)`), the preset itself with its endpoints pointed here:
     * the token endpoint, and the authorization and revocation endpoints and the API
     * (`apiBaseUrl`) where the preset has them; its name, issuer, scopes, rules, rate limit and
     * client authentication stay the preset's, and so does its type. `overrides` change the rest
     * (a `name` of its own, another API path).
     */
    readonly provider: {
      (options?: ProviderOptions): Provider.Provider<string>
      <S extends string, Rules extends ScopeRules<S>>(
        preset: Preset<S, Rules>,
        overrides?: Provider.Overrides
      ): Provider.Provider<S, Rules>
    }
    /**
     * Plays the user's browser: requests the authorization URL without following the redirect and
     * returns the `Location` callback URL (`code` and `state`, or `error`). Dies when the URL is
     * not this server's or the server refuses to redirect (unknown client, unregistered redirect).
     */
    readonly authorize: (authorizationUrl: string) => Effect.Effect<string>
    /** Changes switches for every later request. */
    readonly configure: (patch: Partial<Switches>) => Effect.Effect<void>
    /** The current switches. */
    readonly switches: Effect.Effect<Switches>
    /** Queues faults; each applies once, in order. */
    readonly injectFaults: (faults: ReadonlyArray<Fault>) => Effect.Effect<void>
    readonly clearFaults: Effect.Effect<void>
    readonly counters: Effect.Effect<Counters>
    readonly resetCounters: Effect.Effect<void>
    /**
     * The client secret changes (as when it is reset in the provider's console): every token and
     * code is revoked and later authentication with the old secret fails with 401 `invalid_client`.
     * Returns the client with the new secret.
     */
    readonly resetSecret: () => Effect.Effect<ClientConfig.ClientConfig>
    /** Revokes every grant: all access and refresh tokens, codes and device codes. */
    readonly revokeAll: () => Effect.Effect<void>
    /** A new signing key for ID tokens (new `kid`); the previous one stays in the JWKS. */
    readonly rotateSigningKey: () => Effect.Effect<void>
    /** A new `DPoP-Nonce`: proofs with the old one get `use_dpop_nonce` (when `dpopNonce` is on). */
    readonly rotateDpopNonce: () => Effect.Effect<void>
    /** Mints a token directly, without a token request (not counted). */
    readonly issueToken: (options?: IssueTokenOptions) => Effect.Effect<IssuedToken>
    /** The user approves a pending device authorization; false if no pending one has this user code. */
    readonly approveDevice: (userCode: string) => Effect.Effect<boolean>
    /** The user denies a pending device authorization; false if no pending one has this user code. */
    readonly denyDevice: (userCode: string) => Effect.Effect<boolean>
  }
}

const makeService = (url: string, server: internal.AuthorizationServer): TestServer.Service => {
  const endpoints = {
    url,
    issuer: url,
    tokenEndpoint: `${url}/token`,
    authorizationEndpoint: `${url}/authorize`,
    revocationEndpoint: `${url}/revoke`,
    deviceAuthorizationEndpoint: `${url}/device/code`,
    meEndpoint: `${url}/me`,
    apiBaseUrl: `${url}/api`,
    metadataUrl: `${url}/.well-known/oauth-authorization-server`,
    jwksUri: `${url}${internal.paths.jwks}`,
    userinfoEndpoint: `${url}${internal.paths.userinfo}`,
    introspectionEndpoint: `${url}${internal.paths.introspect}`,
    pushedAuthorizationRequestEndpoint: `${url}${internal.paths.par}`,
    endSessionEndpoint: `${url}${internal.paths.endSession}`
  }
  const clientWith = (secret: string) =>
    ClientConfig.make({ clientId: internal.confidentialClientId, clientSecret: Redacted.make(secret) })
  // As discovery does: a server that requires pushed requests gets every login pushed.
  const pushedIfRequired = <P extends Provider.Provider<string>>(provider: P): P =>
    server.switches.requirePushedAuthorizationRequests ? Authorization.pushed(provider) : provider
  const plain = (options?: ProviderOptions): Provider.Provider<string> => {
    const { flavour, requireClientAuthentication } = server.switches
    return pushedIfRequired(Provider.make({
      name: "test-server",
      issuer: url,
      authorizationEndpoint: endpoints.authorizationEndpoint,
      tokenEndpoint: endpoints.tokenEndpoint,
      revocationEndpoint: endpoints.revocationEndpoint,
      deviceAuthorizationEndpoint: endpoints.deviceAuthorizationEndpoint,
      apiBaseUrl: endpoints.apiBaseUrl,
      clientAuthentication: requireClientAuthentication !== "any"
        ? requireClientAuthentication
        : flavour === "osu"
        ? "client_secret_post"
        : "client_secret_basic",
      authorizationResponseIssParameterSupported: server.switches.issParameter,
      defaultTokenLifetime: Duration.hours(1),
      jwksUri: endpoints.jwksUri,
      userinfoEndpoint: endpoints.userinfoEndpoint,
      introspectionEndpoint: endpoints.introspectionEndpoint,
      pushedAuthorizationRequestEndpoint: endpoints.pushedAuthorizationRequestEndpoint,
      endSessionEndpoint: endpoints.endSessionEndpoint,
      ...options
    }))
  }
  const fromPreset = <S extends string, Rules extends ScopeRules<S>>(
    preset: Preset<S, Rules>,
    overrides: Provider.Overrides = {}
  ): Provider.Provider<S, Rules> => {
    const own = preset()
    // An endpoint the preset does not have (osu! and Spotify have no RFC 7009 one) stays absent.
    const here = (endpoint: Option.Option<string>, ours: string) => Option.isSome(endpoint) ? ours : undefined
    return pushedIfRequired(preset({
      tokenEndpoint: endpoints.tokenEndpoint,
      authorizationEndpoint: here(own.authorizationEndpoint, endpoints.authorizationEndpoint),
      revocationEndpoint: here(own.revocationEndpoint, endpoints.revocationEndpoint),
      apiBaseUrl: here(own.apiBaseUrl, endpoints.apiBaseUrl),
      ...overrides
    }))
  }
  function provider(options?: ProviderOptions): Provider.Provider<string>
  function provider<S extends string, Rules extends ScopeRules<S>>(
    preset: Preset<S, Rules>,
    overrides?: Provider.Overrides
  ): Provider.Provider<S, Rules>
  function provider<S extends string, Rules extends ScopeRules<S>>(
    options?: ProviderOptions | Preset<S, Rules>,
    overrides?: Provider.Overrides
  ): Provider.Provider<string> | Provider.Provider<S, Rules> {
    return typeof options === "function" ? fromPreset(options, overrides) : plain(options)
  }
  return {
    ...endpoints,
    client: clientWith(internal.initialSecret),
    publicClient: ClientConfig.make({ clientId: internal.publicClientId }),
    provider,
    authorize: (authorizationUrl) =>
      Effect.suspend(() => {
        const target = new URL(authorizationUrl)
        if (target.origin !== url) {
          return Effect.dieMessage(`TestServer.authorize: ${target.origin} is not this server (${url})`)
        }
        return Effect.flatMap(
          server.handle({ method: "GET", url: target, headers: {}, body: "" }),
          (response) => {
            if (response._tag === "Response" && response.status === 302 && response.headers.location !== undefined) {
              return Effect.succeed(response.headers.location)
            }
            return Effect.dieMessage(
              `TestServer.authorize: no redirect (${
                response._tag === "Response" ? `${response.status} ${response.body.slice(0, 200)}` : "dropped"
              })`
            )
          }
        )
      }),
    configure: server.configure,
    switches: Effect.sync(() => ({ ...server.switches })),
    injectFaults: server.injectFaults,
    clearFaults: server.clearFaults,
    counters: server.counters,
    resetCounters: server.resetCounters,
    resetSecret: () => Effect.map(server.resetSecret, clientWith),
    revokeAll: () => server.revokeAll,
    rotateSigningKey: () => server.rotateSigningKey,
    rotateDpopNonce: () => server.rotateDpopNonce,
    issueToken: (options) => server.issueToken(options ?? {}),
    approveDevice: (userCode) => server.setDevice(userCode, "approved"),
    denyDevice: (userCode) => server.setDevice(userCode, "denied")
  }
}

const toServerResponse = (response: internal.Answer): HttpServerResponse.HttpServerResponse => {
  const { "content-type": contentType, ...headers } = response.headers
  return response.body === ""
    ? HttpServerResponse.empty({ status: response.status, headers })
    : HttpServerResponse.text(response.body, {
      status: response.status,
      headers,
      contentType: contentType ?? "text/plain"
    })
}

const serve = (options: Options): Effect.Effect<TestServer.Service, never, HttpServer.HttpServer | Scope.Scope> =>
  Effect.gen(function*() {
    const address = (yield* HttpServer.HttpServer).address
    const url = address._tag === "TcpAddress" ? `http://127.0.0.1:${address.port}` : "http://127.0.0.1"
    const server = internal.make(url, options)
    const handler = Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      const body = yield* Effect.orElseSucceed(request.text, () => "")
      const response = yield* server.handle({
        method: request.method,
        url: new URL(request.url, url),
        headers: request.headers,
        body
      })
      if (response._tag === "Drop") {
        NodeHttpServerRequest.toIncomingMessage(request).socket.destroy()
        return HttpServerResponse.empty({ status: 500 })
      }
      return toServerResponse(response)
    })
    yield* HttpServer.serveEffect(HttpRouter.empty.pipe(HttpRouter.all("*", handler)))
    return makeService(url, server)
  })

const listener = () => NodeHttpServer.layer(() => Http.createServer(), { host: "127.0.0.1", port: 0 })

/**
 * Builds the server on a Node listener bound to 127.0.0.1 on a free port; the listener closes
 * with the scope.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options = {}): Effect.Effect<TestServer.Service, never, Scope.Scope> =>
  Effect.flatMap(
    Layer.build(listener()).pipe(Effect.orDie),
    (context) => Effect.provide(serve(options), context)
  )

/**
 * The server on a real loopback listener (127.0.0.1, a free port), with nothing left to provide.
 * Closing the layer closes the listener.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options?: Options): Layer.Layer<TestServer> =>
  Layer.scoped(TestServer, serve(options ?? {})).pipe(Layer.provide(listener()), Layer.orDie)

/**
 * The origin the in-memory transport answers for.
 *
 * @since 0.1.0
 * @category constants
 */
export const inMemoryUrl = "http://127.0.0.1:1"

const decodeBody = (body: HttpBody.HttpBody): string => {
  switch (body._tag) {
    case "Uint8Array":
      return new TextDecoder().decode(body.body)
    case "Raw":
      return typeof body.body === "string" ? body.body : ""
    default:
      return ""
  }
}

const contentTypeOf = (body: HttpBody.HttpBody): Record<string, string> =>
  body._tag !== "Empty" && body.contentType !== undefined ? { "content-type": body.contentType } : {}

const encoder = new TextEncoder()

// A web `Response` whose body is already a string in hand: reading it as text skips the stream
// machinery of a real `Response`, which is most of the cost of an in-memory request (soak tests run
// 100,000 of them). The stream is still there, built on first use, for callers that count bytes.
class InMemoryResponse extends Response {
  readonly #text: string
  #stream: Response["body"] | undefined
  constructor(text: string, status: number, headers: Readonly<Record<string, string>>) {
    const bytes = encoder.encode(text).length
    super(null, { status, headers: { ...headers, "content-length": String(bytes) } })
    this.#text = text
  }
  override get body(): Response["body"] {
    if (this.#stream === undefined) {
      const bytes = encoder.encode(this.#text)
      this.#stream = bytes.length === 0 ? null : new ReadableStream({
        start(controller) {
          controller.enqueue(bytes)
          controller.close()
        }
      })
    }
    return this.#stream
  }
  override text(): Promise<string> {
    return Promise.resolve(this.#text)
  }
  override arrayBuffer(): Promise<ArrayBuffer> {
    const bytes = encoder.encode(this.#text)
    return Promise.resolve(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength))
  }
  override formData(): Promise<FormData> {
    return new Response(this.#text, { headers: this.headers }).formData()
  }
}

/**
 * Builds the server with an `HttpClient` that calls it in-process (requests to other origins fail
 * with a transport error).
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeInMemory = (
  options: Options = {}
): Effect.Effect<{ readonly server: TestServer.Service; readonly client: HttpClient.HttpClient }> =>
  Effect.sync(() => {
    const server = internal.make(inMemoryUrl, options)
    const client = HttpClient.make((request, url) => {
      if (url.origin !== inMemoryUrl) {
        return Effect.fail(
          new HttpClientError.RequestError({ request, reason: "Transport", description: `no route to ${url.origin}` })
        )
      }
      return server.handle({
        method: request.method,
        url,
        headers: { ...contentTypeOf(request.body), ...request.headers },
        body: decodeBody(request.body)
      }).pipe(
        Effect.flatMap((response) =>
          response._tag === "Drop"
            ? Effect.fail(
              new HttpClientError.RequestError({ request, reason: "Transport", description: "connection dropped" })
            )
            : Effect.succeed(
              HttpClientResponse.fromWeb(
                request,
                new InMemoryResponse(response.body, response.status, response.headers)
              )
            )
        )
      )
    })
    return { server: makeService(inMemoryUrl, server), client }
  })

/**
 * The server and an in-process `HttpClient` to reach it: no sockets.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerInMemory = (options?: Options): Layer.Layer<TestServer | HttpClient.HttpClient> =>
  Layer.effectContext(
    Effect.map(
      makeInMemory(options),
      ({ client, server }) => Context.make(TestServer, server).pipe(Context.add(HttpClient.HttpClient, client))
    )
  )

/**
 * The token requests of one grant type in a `Counters` reading (zeros when there were none).
 *
 * @since 0.1.0
 * @category getters
 */
export const tokenRequests = (counters: Counters, grantType: string): Outcomes =>
  Option.getOrElse(Option.fromNullable(counters.tokenRequests[grantType]), () => ({ ok: 0, error: 0 }))
