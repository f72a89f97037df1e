/**
 * Provider discovery from RFC 8414 authorization-server metadata, or OpenID Connect Discovery
 * metadata as a fallback. The metadata's `issuer` must equal the issuer asked for, exactly, and
 * its endpoints must be `https:` (or loopback). This is `Provider.discover`: it lives in its own
 * module because it needs the token endpoint's HTTP reader, which itself depends on `Provider`.
 *
 * @since 0.1.0
 */
import * as HttpClient from "@effect/platform/HttpClient"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type { RateLimited, TokenRequestError, TransientServerError, TransportError } from "./OAuthError.js"
import { InvalidConfiguration } from "./OAuthError.js"
import type { ClientAuthentication, Options as ProviderOptions, Provider } from "./Provider.js"
import { make as makeProvider } from "./Provider.js"
import { checkEndpoint, make as makeEndpoint } from "./TokenEndpoint.js"

/**
 * The metadata fields effect-oauth reads (RFC 8414 §2); other members are ignored.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Metadata = Schema.Struct({
  issuer: Schema.String,
  token_endpoint: Schema.String,
  authorization_endpoint: Schema.optional(Schema.String),
  revocation_endpoint: Schema.optional(Schema.String),
  device_authorization_endpoint: Schema.optional(Schema.String),
  scopes_supported: Schema.optional(Schema.Array(Schema.String)),
  token_endpoint_auth_methods_supported: Schema.optional(Schema.Array(Schema.String)),
  code_challenge_methods_supported: Schema.optional(Schema.Array(Schema.String)),
  authorization_response_iss_parameter_supported: Schema.optional(Schema.Boolean),
  // OpenID Connect Discovery 1.0 §3, RFC 8414 §2 (introspection), RFC 9126 §5, RFC 9449 §5.1.
  jwks_uri: Schema.optional(Schema.String),
  userinfo_endpoint: Schema.optional(Schema.String),
  introspection_endpoint: Schema.optional(Schema.String),
  end_session_endpoint: Schema.optional(Schema.String),
  pushed_authorization_request_endpoint: Schema.optional(Schema.String),
  require_pushed_authorization_requests: Schema.optional(Schema.Boolean),
  dpop_signing_alg_values_supported: Schema.optional(Schema.Array(Schema.String)),
  id_token_signing_alg_values_supported: Schema.optional(Schema.Array(Schema.String))
})

/**
 * @since 0.1.0
 * @category schemas
 */
export type Metadata = typeof Metadata.Type

/**
 * The options of {@link discover}: any provider option overrides what the metadata says (except
 * the issuer, which is the one asked for); `attemptTimeout` and `deadline` bound the requests.
 *
 * @since 0.1.0
 * @category models
 */
export interface DiscoverOptions extends Partial<Omit<ProviderOptions<string>, "issuer">> {
  /** The longest one metadata request may take (default 10 seconds). */
  readonly attemptTimeout?: Duration.DurationInput | undefined
  /** The longest one metadata document may take over its attempts (default 30 seconds). */
  readonly deadline?: Duration.DurationInput | undefined
}

/**
 * The errors of {@link discover}: bad or mismatching metadata is an `InvalidConfiguration`; a server
 * that could not be reached is the transport error it gave.
 *
 * @since 0.1.0
 * @category models
 */
export type DiscoveryError = InvalidConfiguration | TransportError | TransientServerError | RateLimited

/**
 * The metadata URLs of an issuer, in the order they are tried: RFC 8414 §3.1 inserts the
 * well-known path before the issuer's own path; OpenID Discovery appends it.
 *
 * @since 0.1.0
 * @category urls
 */
export const metadataUrls = (issuer: string): ReadonlyArray<string> => {
  const url = new URL(issuer)
  const path = url.pathname === "/" ? "" : url.pathname.replace(/\/$/, "")
  return [
    `${url.origin}/.well-known/oauth-authorization-server${path}`,
    `${url.origin}${path}/.well-known/openid-configuration`
  ]
}

/**
 * The client authentication to use from `token_endpoint_auth_methods_supported`:
 * `client_secret_basic`, else `client_secret_post`, else `none`; RFC 8414's default
 * (`client_secret_basic`) when the field is absent or names none of these.
 *
 * @since 0.1.0
 * @category constructors
 */
export const chooseAuthentication = (methods: ReadonlyArray<string> | undefined): ClientAuthentication => {
  if (methods === undefined) return "client_secret_basic"
  for (const method of ["client_secret_basic", "client_secret_post", "none"] as const) {
    if (methods.includes(method)) return method
  }
  return "client_secret_basic"
}

const isUnreachable = (error: TokenRequestError): error is TransportError | TransientServerError | RateLimited =>
  error._tag === "TransportError" || error._tag === "TransientServerError" || error._tag === "RateLimited"

const describe = (error: TokenRequestError): string =>
  "status" in error ? `HTTP ${error.status}${"reason" in error ? ` (${error.reason})` : ""}` : error._tag

const definedOnly = <A extends object>(options: A): Partial<A> =>
  Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)) as Partial<A>

/**
 * Builds a provider from an issuer's metadata: RFC 8414 first, then OpenID Discovery. Refused with
 * `InvalidConfiguration`: an issuer or endpoint that is `http:` and not loopback (unless
 * `allowInsecureHttp`), an issuer with a query or fragment, metadata whose `issuer` is not the
 * issuer asked for (exact comparison, RFC 8414 §3.3), and no valid metadata at either URL. The
 * requests follow no redirect, read at most 1 MiB, and time out.
 *
 * @since 0.1.0
 * @category constructors
 */
export const discover = (
  issuer: string,
  options: DiscoverOptions = {}
): Effect.Effect<Provider<string>, DiscoveryError, HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const { attemptTimeout, deadline, ...overrides } = options
    const allowInsecureHttp = options.allowInsecureHttp ?? false
    const issuerUrl = yield* checkEndpoint(issuer, allowInsecureHttp)
    if (issuerUrl.search !== "" || issuerUrl.hash !== "" || issuer.includes("#") || issuer.includes("?")) {
      return yield* new InvalidConfiguration({
        detail: `the issuer ${issuerUrl.origin}${issuerUrl.pathname} has a query or fragment, which RFC 8414 §2 forbids`
      })
    }
    const http = yield* HttpClient.HttpClient
    // The token endpoint's reader gives discovery the same caps: no redirects, 1 MiB, timeouts.
    const reader = yield* makeEndpoint({
      provider: makeProvider({ tokenEndpoint: issuer, allowInsecureHttp, clientAuthentication: "none" }),
      client: { clientId: "", clientSecret: Option.none() },
      maxAttempts: 2,
      attemptTimeout,
      deadline: deadline ?? "30 seconds"
    }).pipe(Effect.provideService(HttpClient.HttpClient, http))
    const problems: Array<string> = []
    let unreachable: Option.Option<TransportError | TransientServerError | RateLimited> = Option.none()
    let metadata: Metadata | undefined
    for (const url of metadataUrls(issuer)) {
      const body = yield* Effect.either(reader.getJson(url))
      if (Either.isLeft(body)) {
        const error = body.left
        if (error._tag === "InvalidConfiguration") return yield* error
        if (isUnreachable(error) && Option.isNone(unreachable)) unreachable = Option.some(error)
        problems.push(`${url}: ${describe(error)}`)
        continue
      }
      const decoded = Schema.decodeUnknownEither(Metadata)(body.right)
      if (Either.isLeft(decoded)) {
        problems.push(`${url}: not valid metadata (issuer and token_endpoint are required strings)`)
        continue
      }
      metadata = decoded.right
      break
    }
    if (metadata === undefined) {
      if (Option.isSome(unreachable)) return yield* unreachable.value
      return yield* new InvalidConfiguration({
        detail: `no valid RFC 8414 or OpenID metadata for ${issuer} (${problems.join("; ")}): check the issuer URL`
      })
    }
    // A different issuer is refused, not tried elsewhere: it is what a mix-up attack looks like.
    if (metadata.issuer !== issuer) {
      return yield* new InvalidConfiguration({
        detail: `the metadata names the issuer ${metadata.issuer}, not ${issuer}: refusing it (RFC 8414 §3.3)`
      })
    }
    for (
      const endpoint of [
        metadata.token_endpoint,
        metadata.authorization_endpoint,
        metadata.revocation_endpoint,
        metadata.device_authorization_endpoint,
        metadata.jwks_uri,
        metadata.userinfo_endpoint,
        metadata.introspection_endpoint,
        metadata.end_session_endpoint,
        metadata.pushed_authorization_request_endpoint
      ]
    ) {
      if (endpoint !== undefined) yield* checkEndpoint(endpoint, allowInsecureHttp)
    }
    return makeProvider<string>({
      name: issuerUrl.host,
      tokenEndpoint: metadata.token_endpoint,
      authorizationEndpoint: metadata.authorization_endpoint,
      revocationEndpoint: metadata.revocation_endpoint,
      deviceAuthorizationEndpoint: metadata.device_authorization_endpoint,
      clientAuthentication: chooseAuthentication(metadata.token_endpoint_auth_methods_supported),
      authorizationResponseIssParameterSupported: metadata.authorization_response_iss_parameter_supported ?? false,
      scopes: metadata.scopes_supported,
      jwksUri: metadata.jwks_uri,
      userinfoEndpoint: metadata.userinfo_endpoint,
      introspectionEndpoint: metadata.introspection_endpoint,
      endSessionEndpoint: metadata.end_session_endpoint,
      pushedAuthorizationRequestEndpoint: metadata.pushed_authorization_request_endpoint,
      requirePushedAuthorizationRequests: metadata.require_pushed_authorization_requests,
      dpopSigningAlgValuesSupported: metadata.dpop_signing_alg_values_supported,
      idTokenSigningAlgValuesSupported: metadata.id_token_signing_alg_values_supported,
      ...definedOnly(overrides),
      issuer
    })
  }).pipe(Effect.withSpan("Discovery.discover", {
    captureStackTrace: false,
    attributes: { "oauth.issuer": issuer }
  }))
