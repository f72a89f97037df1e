/**
 * Provider discovery from RFC 8414 authorization-server metadata, or OpenID Connect Discovery
 * metadata as a fallback. The metadata's `issuer` must equal the issuer asked for, exactly.
 *
 * @since 0.1.0
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type { TokenRequestError } from "./OAuthError.js"
import { InvalidConfiguration } from "./OAuthError.js"
import type { ClientAuthentication, Options as ProviderOptions, Provider } from "./Provider.js"
import { make as makeProvider } from "./Provider.js"
import { checkEndpoint, make as makeEndpoint } from "./TokenEndpoint.js"

/**
 * The metadata fields effect-oauth reads.
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
  authorization_response_iss_parameter_supported: Schema.optional(Schema.Boolean)
})

/**
 * @since 0.1.0
 * @category schemas
 */
export type Metadata = typeof Metadata.Type

/**
 * The metadata URLs of an issuer: RFC 8414 §3.1 inserts the well-known path before the issuer's
 * own path; OpenID Discovery appends it.
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

const chooseAuthentication = (methods: ReadonlyArray<string> | undefined): ClientAuthentication => {
  if (methods === undefined) return "client_secret_basic"
  for (const method of ["client_secret_basic", "client_secret_post", "none"] as const) {
    if (methods.includes(method)) return method
  }
  return "client_secret_basic"
}

/**
 * Builds a provider from an issuer's metadata. Options override what the metadata says.
 *
 * @since 0.1.0
 * @category constructors
 */
export const discover = (
  issuer: string,
  options: Partial<ProviderOptions<string>> = {}
): Effect.Effect<Provider<string>, InvalidConfiguration | TokenRequestError, HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const allowInsecureHttp = options.allowInsecureHttp ?? false
    yield* checkEndpoint(issuer, allowInsecureHttp)
    const http = yield* HttpClient.HttpClient
    // The token endpoint's reader gives discovery the same caps: no redirects, 1 MiB, timeouts.
    const reader = yield* makeEndpoint({
      provider: makeProvider({ tokenEndpoint: issuer, allowInsecureHttp, clientAuthentication: "none" }),
      client: { clientId: "", clientSecret: Option.none() },
      maxAttempts: 2
    }).pipe(Effect.provideService(HttpClient.HttpClient, http))
    let metadata: Metadata | undefined
    for (const url of metadataUrls(issuer)) {
      const body = yield* Effect.either(reader.getJson(url))
      if (Either.isLeft(body)) continue
      const decoded = Schema.decodeUnknownEither(Metadata)(body.right)
      if (Either.isRight(decoded)) {
        metadata = decoded.right
        break
      }
    }
    if (metadata === undefined) {
      return yield* new InvalidConfiguration({
        detail: `no valid RFC 8414 or OpenID metadata found for ${issuer}: check the issuer URL`
      })
    }
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
        metadata.device_authorization_endpoint
      ]
    ) {
      if (endpoint !== undefined) yield* checkEndpoint(endpoint, allowInsecureHttp)
    }
    return makeProvider<string>({
      name: new URL(issuer).host,
      issuer,
      tokenEndpoint: metadata.token_endpoint,
      authorizationEndpoint: metadata.authorization_endpoint,
      revocationEndpoint: metadata.revocation_endpoint,
      deviceAuthorizationEndpoint: metadata.device_authorization_endpoint,
      clientAuthentication: chooseAuthentication(metadata.token_endpoint_auth_methods_supported),
      authorizationResponseIssParameterSupported: metadata.authorization_response_iss_parameter_supported ?? false,
      scopes: metadata.scopes_supported,
      ...options
    })
  }).pipe(Effect.withSpan("Discovery.discover", { attributes: { "oauth.issuer": issuer } }))
