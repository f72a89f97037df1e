/**
 * Provider discovery from RFC 8414 authorization-server metadata, or OpenID Connect Discovery
 * metadata as a fallback, from an issuer or from the metadata document's own URL. The metadata's
 * `issuer` must be exactly the one the document was looked up for, and its endpoints must be
 * `https:` (or loopback). This is `Provider.discover`: it lives in its own module so that a
 * provider made by hand does not bring the HTTP reader and the metadata schema into a bundle.
 *
 * @since 0.1.0
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { pushed } from "./Authorization.js"
import { checkEndpoint } from "./internal/http.js"
import * as Reader from "./internal/reader.js"
import type { Transient } from "./OAuthError.js"
import { ConfigurationError, isTransient, TokenRequestError } from "./OAuthError.js"
import type { ClientAuthentication, Options as ProviderOptions, Provider } from "./Provider.js"
import { make as makeProvider } from "./Provider.js"
import type { ScopeRules } from "./ScopeRules.js"

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
 * `scopeRules`, declared `as const`, gives the provider its scope type `S` and literal rules.
 *
 * @since 0.1.0
 * @category models
 */
export interface DiscoverOptions<S extends string = string, Rules extends ScopeRules<S> = ScopeRules<S>>
  extends Partial<Omit<ProviderOptions<S, Rules>, "issuer">>
{
  /** The longest one metadata request may take (default 10 seconds). */
  readonly attemptTimeout?: Duration.DurationInput | undefined
  /** The longest one metadata document may take over its attempts (default 30 seconds). */
  readonly deadline?: Duration.DurationInput | undefined
}

/**
 * The errors of {@link discover}: bad or mismatching metadata is a `ConfigurationError`; a server
 * that could not be reached is the `TokenRequestError` it gave.
 *
 * @since 0.1.0
 * @category models
 */
export type DiscoveryError = ConfigurationError | TokenRequestError

/**
 * The metadata URLs of an issuer, in the order they are tried: RFC 8414 §3.1 inserts the
 * well-known path before the issuer's own path; OpenID Discovery appends it.
 *
 * @since 0.1.0
 * @category utils
 */
export const metadataUrls = (issuer: string): ReadonlyArray<string> => {
  const url = new URL(issuer)
  const path = url.pathname === "/" ? "" : url.pathname.replace(/\/$/, "")
  return [
    `${url.origin}/.well-known/oauth-authorization-server${path}`,
    `${url.origin}${path}/.well-known/openid-configuration`
  ]
}

// Whether `url` (a trailing slash aside) is one of the well-known URLs of `issuer`: the RFC 8414
// §3.3 rule, for a document fetched by its own URL. An issuer that is no URL is none.
const isWellKnownUrlOf = (issuer: string, url: string): boolean => {
  try {
    const parsed = new URL(issuer)
    return parsed.search === "" && parsed.hash === "" && !/[?#]/.test(issuer) &&
      metadataUrls(issuer).includes(withoutTrailingSlash(url))
  } catch {
    return false
  }
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

const describe = (error: TokenRequestError): string =>
  error.status === undefined
    ? error.reason
    : `HTTP ${error.status}${error.kind === undefined ? "" : ` (${error.kind})`}`

const isRedirect = (error: TokenRequestError | ConfigurationError): boolean =>
  error instanceof TokenRequestError && error.kind === "Redirect"

const wellKnown = "/.well-known/"

const withoutTrailingSlash = (url: string) => url.endsWith("/") ? url.slice(0, -1) : url

// Django OAuth Toolkit serves `…/openid-configuration/` and redirects the standard URL there.
const addsTrailingSlash = (from: string, location: string | undefined): Option.Option<string> => {
  if (location === undefined) return Option.none()
  try {
    const target = new URL(location, from).href
    return target === `${new URL(from).href}/` ? Option.some(target) : Option.none()
  } catch {
    return Option.none()
  }
}

const definedOnly = <A extends object>(options: A): Partial<A> =>
  Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)) as Partial<A>

/**
 * Builds a provider from an issuer's metadata: RFC 8414 first, then OpenID Discovery. Given the
 * metadata document's own URL instead (a path with `/.well-known/`, as openid-client takes it),
 * only that document is read, and its `issuer` must be one whose well-known URL it is.
 *
 * Refused with `ConfigurationError`: an issuer, URL or endpoint that is `http:` and not loopback
 * (unless `allowInsecureHttp`), one with a query or fragment, metadata whose `issuer` is not the
 * issuer asked for (exact comparison, RFC 8414 §3.3), and no valid metadata at any URL tried. A
 * server that cannot be reached is the transport error it gave, saying which discovery failed.
 * The requests read at most 1 MiB and time out; the one redirect followed is a same-origin one
 * that only adds a trailing slash (Django OAuth Toolkit's `…/openid-configuration/`).
 *
 * The metadata's `scopes_supported` is not a rule (a server may support more than it lists): the
 * provider is a `Provider<string>` accepting any scope, unless the options give `scopeRules`, whose
 * scope type and literal rules it then keeps (`Provider<S, Rules>`), for the compiler and `validate`
 * to check requests with.
 *
 * @since 0.1.0
 * @category constructors
 */
export const discover = <S extends string = string, Rules extends ScopeRules<S> = ScopeRules<S>>(
  issuerOrMetadataUrl: string,
  options: DiscoverOptions<S, Rules> = {}
): Effect.Effect<Provider<S, Rules>, DiscoveryError, HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const { attemptTimeout, deadline, ...overrides } = options
    const given = issuerOrMetadataUrl
    const allowInsecureHttp = options.allowInsecureHttp ?? false
    const givenUrl = yield* checkEndpoint(given, allowInsecureHttp)
    const isMetadataUrl = givenUrl.pathname.includes(wellKnown)
    if (givenUrl.search !== "" || givenUrl.hash !== "" || given.includes("#") || given.includes("?")) {
      return yield* new ConfigurationError({
        reason: "InvalidUrl",
        detail: `the ${isMetadataUrl ? "metadata URL" : "issuer"} ${givenUrl.origin}${givenUrl.pathname} has a ` +
          "query or fragment, which RFC 8414 forbids"
      })
    }
    // Where each URL redirected to: the reader reports a redirect, not its `Location`.
    const locations = new Map<string, string>()
    const http = HttpClient.tap(yield* HttpClient.HttpClient, (response) =>
      Effect.sync(() => {
        const location = response.headers["location"]
        if (response.status >= 300 && response.status < 400 && location !== undefined) {
          locations.set(response.request.url, location)
        }
      }))
    // The token endpoint's rules hold for discovery too: no redirects, 1 MiB, timeouts.
    const reader = Reader.make(
      http,
      { classifyError: () => Option.none(), allowInsecureHttp },
      [],
      { maxAttempts: 2, attemptTimeout, deadline },
      Duration.seconds(30)
    )

    // The reader's own words are about a token; a failed discovery says it is one, and where.
    const inDiscovery = (url: string, error: Transient): TokenRequestError => {
      const where = `discovery of ${given} at ${url}`
      switch (error.reason) {
        case "Transport":
          return new TokenRequestError({
            reason: "Transport",
            ...(error.kind === undefined ? {} : { kind: error.kind }),
            detail: error.kind === "Deadline"
              ? `${where}: no metadata within ${Duration.format(reader.deadline)}`
              : error.kind === "Timeout"
              ? `${where}: no answer within ${Duration.format(reader.attemptTimeout)}`
              : `${where}: ${error.detail}`
          })
        case "Transient":
          return new TokenRequestError({
            reason: "Transient",
            ...(error.status === undefined ? {} : { status: error.status }),
            description: error.description === undefined ? where : `${where}: ${error.description}`
          })
        case "RateLimited":
          return error
      }
    }

    const read = (url: string) =>
      Effect.flatMap(Effect.either(Reader.getJson(reader, url)), (body) => {
        if (Either.isRight(body) || !isRedirect(body.left)) {
          return Effect.succeed({ url, body })
        }
        return Option.match(addsTrailingSlash(url, locations.get(new URL(url).href)), {
          onNone: () => Effect.succeed({ url, body }),
          // Followed once: a second redirect is reported like any other.
          onSome: (slashed) =>
            Effect.map(Effect.either(Reader.getJson(reader, slashed)), (again) => ({ url: slashed, body: again }))
        })
      })

    const problems: Array<string> = []
    let unreachable: Option.Option<TokenRequestError> = Option.none()
    let metadata: Metadata | undefined
    for (const candidate of isMetadataUrl ? [given] : metadataUrls(given)) {
      const { body, url } = yield* read(candidate)
      if (Either.isLeft(body)) {
        const error = body.left
        if (error instanceof ConfigurationError) return yield* error
        if (isTransient(error) && Option.isNone(unreachable)) unreachable = Option.some(inDiscovery(url, error))
        problems.push(`${url}: ${describe(error)}${isRedirect(error) ? ", not followed" : ""}`)
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
      return yield* new ConfigurationError({
        reason: "InvalidMetadata",
        detail: `discovery found no valid RFC 8414 or OpenID metadata for ${given} (${problems.join("; ")}): ` +
          `check the ${isMetadataUrl ? "metadata URL" : "issuer URL"}`
      })
    }
    // A different issuer is refused, not tried elsewhere: it is what a mix-up attack looks like.
    const issuer = metadata.issuer
    if (isMetadataUrl ? !isWellKnownUrlOf(issuer, given) : issuer !== given) {
      return yield* new ConfigurationError({
        reason: "InvalidMetadata",
        detail: isMetadataUrl
          ? `the metadata at ${given} names the issuer ${issuer}, whose metadata is not there: refusing it ` +
            "(RFC 8414 §3.3)"
          : `the metadata names the issuer ${issuer}, not ${given}: refusing it (RFC 8414 §3.3)`
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
    const provider = makeProvider<S, Rules>({
      name: givenUrl.host,
      tokenEndpoint: metadata.token_endpoint,
      authorizationEndpoint: metadata.authorization_endpoint,
      revocationEndpoint: metadata.revocation_endpoint,
      deviceAuthorizationEndpoint: metadata.device_authorization_endpoint,
      clientAuthentication: chooseAuthentication(metadata.token_endpoint_auth_methods_supported),
      authorizationResponseIssParameterSupported: metadata.authorization_response_iss_parameter_supported ?? false,
      jwksUri: metadata.jwks_uri,
      userinfoEndpoint: metadata.userinfo_endpoint,
      introspectionEndpoint: metadata.introspection_endpoint,
      endSessionEndpoint: metadata.end_session_endpoint,
      pushedAuthorizationRequestEndpoint: metadata.pushed_authorization_request_endpoint,
      dpopSigningAlgValuesSupported: metadata.dpop_signing_alg_values_supported,
      idTokenSigningAlgValuesSupported: metadata.id_token_signing_alg_values_supported,
      ...definedOnly(overrides),
      issuer
    })
    // RFC 9126 §5: a server that requires pushed requests refuses every other one.
    return metadata.require_pushed_authorization_requests === true ? pushed(provider) : provider
  }).pipe(Effect.withSpan("Discovery.discover", {
    captureStackTrace: false,
    attributes: { "oauth.issuer": issuerOrMetadataUrl }
  }))
