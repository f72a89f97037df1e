/**
 * An in-process OAuth 2.0 authorization server and resource server for tests and demos: client
 * credentials, authorization code with PKCE S256, refresh with rotation and reuse detection,
 * device authorization, revocation, RFC 8414 metadata, and a protected `/me` and `/api/*`.
 * Switches change its lifetimes, latency and flavour (RFC-style, osu!-like or Spotify-like), a
 * fault queue injects failures, and counters tell what it saw.
 *
 * Two transports serve the same server: `layer` listens on 127.0.0.1 on a free port (real
 * sockets), and `layerInMemory` also provides an `HttpClient` that calls it in the same runtime,
 * with no sockets, so `TestClock` drives every lifetime.
 *
 * @since 0.1.0
 */
import * as ClientConfig from "@effect-oauth/core/ClientConfig"
import * as Provider from "@effect-oauth/core/Provider"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as NodeHttpServerRequest from "@effect/platform-node/NodeHttpServerRequest"
import type * as HttpBody from "@effect/platform/HttpBody"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
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
 * `{"authentication":"basic"}` from the API) or `spotify` (Basic authentication, refresh responses
 * without `refresh_token`).
 *
 * @since 0.1.0
 * @category models
 */
export type Flavour = internal.Flavour

/**
 * The switches of {@link TestServer.Service.configure}.
 *
 * @since 0.1.0
 * @category models
 */
export type Switches = internal.Switches

/**
 * A fault applied once to the next request of its `path` (default `/token`): an answer with this
 * status, body and headers; a delay; a dropped connection; or a redirect.
 *
 * @since 0.1.0
 * @category models
 */
export type Fault = internal.Fault

/**
 * What the server saw: token requests by grant type and outcome, refused refresh tokens and codes,
 * resource requests by status, revocations.
 *
 * @since 0.1.0
 * @category models
 */
export type Counters = internal.Counters

/**
 * The initial switches.
 *
 * @since 0.1.0
 * @category models
 */
export type Options = Partial<Switches>

/**
 * A token minted directly by {@link TestServer.Service.issueToken}.
 *
 * @since 0.1.0
 * @category models
 */
export interface IssuedToken {
  readonly accessToken: string
  readonly refreshToken: string | undefined
  readonly lifetime: number | null
}

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
    readonly url: string
    readonly issuer: string
    readonly tokenEndpoint: string
    readonly authorizationEndpoint: string
    readonly revocationEndpoint: string
    readonly deviceAuthorizationEndpoint: string
    readonly meEndpoint: string
    readonly apiBaseUrl: string
    /** The registered confidential client; its secret needs RFC 6749 §2.3.1 form-encoding. */
    readonly client: ClientConfig.ClientConfig
    /** The registered public client (no secret: PKCE only). */
    readonly publicClient: ClientConfig.ClientConfig
    /** A core `Provider` for this server (client authentication by flavour unless given). */
    readonly provider: (
      options?: Partial<Provider.Options<string>>
    ) => Provider.Provider<string>
    /** Plays the user's browser: follows the authorization URL to the callback URL, which it returns. */
    readonly authorize: (authorizationUrl: string) => Effect.Effect<string>
    readonly configure: (patch: Partial<Switches>) => Effect.Effect<void>
    readonly injectFaults: (faults: ReadonlyArray<Fault>) => Effect.Effect<void>
    readonly clearFaults: Effect.Effect<void>
    readonly counters: Effect.Effect<Counters>
    readonly resetCounters: Effect.Effect<void>
    /** Changes the client secret and revokes every token: later client authentication fails. */
    readonly resetSecret: () => Effect.Effect<void>
    /** Revokes every grant. */
    readonly revokeAll: () => Effect.Effect<void>
    /** Mints a token for the confidential client. */
    readonly issueToken: (options: {
      readonly scopes?: ReadonlyArray<string> | undefined
      readonly lifetimeSeconds?: number | null | undefined
      readonly withRefreshToken?: boolean | undefined
    }) => Effect.Effect<IssuedToken>
    readonly approveDevice: (userCode: string) => Effect.Effect<void>
    readonly denyDevice: (userCode: string) => Effect.Effect<void>
  }
}

const makeService = (url: string, server: internal.AuthorizationServer): TestServer.Service => ({
  url,
  issuer: url,
  tokenEndpoint: `${url}/token`,
  authorizationEndpoint: `${url}/authorize`,
  revocationEndpoint: `${url}/revoke`,
  deviceAuthorizationEndpoint: `${url}/device/code`,
  meEndpoint: `${url}/me`,
  apiBaseUrl: `${url}/api`,
  client: ClientConfig.make({
    clientId: internal.confidentialClientId,
    clientSecret: Redacted.make(internal.initialSecret)
  }),
  publicClient: ClientConfig.make({ clientId: internal.publicClientId }),
  provider: (options) =>
    Provider.make({
      name: "test-server",
      issuer: url,
      authorizationEndpoint: `${url}/authorize`,
      tokenEndpoint: `${url}/token`,
      revocationEndpoint: `${url}/revoke`,
      deviceAuthorizationEndpoint: `${url}/device/code`,
      apiBaseUrl: `${url}/api`,
      clientAuthentication: server.switches.flavour === "osu" ? "client_secret_post" : "client_secret_basic",
      authorizationResponseIssParameterSupported: server.switches.issParameter,
      defaultTokenLifetime: Duration.hours(1),
      ...options
    }),
  authorize: (authorizationUrl) =>
    Effect.map(
      server.handle({ method: "GET", url: new URL(authorizationUrl), headers: {}, body: "" }),
      (response) => response._tag === "Response" ? response.headers.location ?? "" : ""
    ),
  configure: server.configure,
  injectFaults: server.injectFaults,
  clearFaults: server.clearFaults,
  counters: server.counters,
  resetCounters: server.resetCounters,
  resetSecret: () => server.resetSecret,
  revokeAll: () => server.revokeAll,
  issueToken: server.issueToken,
  approveDevice: (userCode) => server.setDevice(userCode, "approved"),
  denyDevice: (userCode) => server.setDevice(userCode, "denied")
})

/**
 * Builds the server on a Node listener bound to 127.0.0.1 on a free port; the listener closes
 * with the scope.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options = {}): Effect.Effect<TestServer.Service, never, Scope.Scope> =>
  Effect.gen(function*() {
    const http = yield* NodeHttpServer.make(() => Http.createServer(), { host: "127.0.0.1", port: 0 }).pipe(
      Effect.orDie
    )
    const address = http.address
    const url = address._tag === "TcpAddress" ? `http://127.0.0.1:${address.port}` : "http://127.0.0.1"
    const server = internal.make(url, options)
    const app = Effect.gen(function*() {
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
      return HttpServerResponse.text(response.body, {
        status: response.status,
        headers: response.headers,
        ...(response.headers["content-type"] ? { contentType: response.headers["content-type"] } : {})
      })
    })
    yield* http.serve(app).pipe(Effect.provide(NodeHttpServer.layerContext))
    return makeService(url, server)
  })

/**
 * The server on a real loopback listener.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options?: Options): Layer.Layer<TestServer> => Layer.scoped(TestServer, make(options))

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

/**
 * Builds the server with an `HttpClient` that calls it in-process (requests to other origins fail).
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
      return server.handle({ method: request.method, url, headers: request.headers, body: decodeBody(request.body) })
        .pipe(
          Effect.flatMap((response) =>
            response._tag === "Drop"
              ? Effect.fail(
                new HttpClientError.RequestError({ request, reason: "Transport", description: "connection dropped" })
              )
              : Effect.succeed(
                HttpClientResponse.fromWeb(
                  request,
                  new Response(response.status === 204 || response.body === "" ? null : response.body, {
                    status: response.status,
                    headers: {
                      ...response.headers,
                      "content-length": String(new TextEncoder().encode(response.body).length)
                    }
                  })
                )
              )
          )
        )
    })
    return { server: makeService(inMemoryUrl, server), client }
  })

/**
 * The server and an in-process `HttpClient` to reach it: no sockets, and `TestClock` drives every
 * lifetime.
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
 * The token requests of one grant type in a `Counters` reading.
 *
 * @since 0.1.0
 * @category getters
 */
export const tokenRequests = (counters: Counters, grantType: string): { readonly ok: number; readonly error: number } =>
  Option.getOrElse(Option.fromNullable(counters.tokenRequests[grantType]), () => ({ ok: 0, error: 0 }))
