/**
 * An OAuth 2.0 provider: its endpoints, how clients authenticate, its scopes and scope rules, its
 * default token lifetime, its rate limit, and how to read its non-standard error shapes.
 * Presets live in `providers/Osu` and `providers/Spotify`; `discover` builds one for any
 * RFC 8414 / OpenID server.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { PushedAuthorization } from "./Authorization.js"
import type { Extension as ClientAssertionExtension } from "./ClientAssertion.js"
import type { Extension as DpopExtension } from "./Dpop.js"
import type { Extension as OpenIdExtension } from "./IdToken.js"
import type { RateLimit as RateLimitTag } from "./RateLimit.js"
import type { ScopeRules } from "./ScopeRules.js"
import { permissive } from "./ScopeRules.js"

/**
 * How the client proves itself to the token endpoint.
 *
 * @since 0.1.0
 * @category models
 */
export type ClientAuthentication = "client_secret_basic" | "client_secret_post" | "none"

/**
 * An RFC 6749 §5.2 error body, normalized.
 *
 * @since 0.1.0
 * @category models
 */
export interface ErrorBody {
  readonly error: string
  readonly description?: string | undefined
  readonly uri?: string | undefined
}

/**
 * A rate limit: at most `limit` requests per `interval`. Built by `RateLimit.rule`, which gives it
 * the limiter a client keeps by itself when its context has no shared `RateLimit`: so a bundle whose
 * provider has no limit carries no limiter.
 *
 * @since 0.1.0
 * @category models
 */
export interface RateLimit {
  readonly limit: number
  readonly interval: Duration.Duration
  /** A limiter of the client's own (in memory), for when the context has no shared `RateLimit`. */
  readonly own: Effect.Effect<RateLimitTag.Service>
}

/**
 * OpenID Connect (Discovery 1.0 §3) and RFC 7662 / 9126 / 9449 metadata, as discovery reads it.
 * Plain values, kept as given: only the modules that use them (`IdToken`, `UserInfo`,
 * `Introspection`, `Dpop`, PAR in `Authorization`) read them.
 *
 * @since 0.1.0
 * @category models
 */
export interface OpenIdMetadata {
  readonly jwksUri?: string | undefined
  readonly userinfoEndpoint?: string | undefined
  readonly introspectionEndpoint?: string | undefined
  readonly endSessionEndpoint?: string | undefined
  /** Where `Authorization.pushed` pushes (RFC 9126). */
  readonly pushedAuthorizationRequestEndpoint?: string | undefined
  readonly dpopSigningAlgValuesSupported?: ReadonlyArray<string> | undefined
  readonly idTokenSigningAlgValuesSupported?: ReadonlyArray<string> | undefined
}

/**
 * What a provider does beyond plain OAuth: OpenID Connect ID tokens (`IdToken.openId`), DPoP
 * (`Dpop.bind`), signed client assertions (`ClientAssertion.use`), pushed authorization requests
 * (`Authorization.pushed`). Each is a value carrying its own code, which the plain modules only
 * call when it is there, so a program that uses none of them bundles none of that code (nor `jose`).
 *
 * @since 0.1.0
 * @category models
 */
export interface Extensions {
  readonly openId?: OpenIdExtension | undefined
  readonly dpop?: DpopExtension | undefined
  readonly clientAssertion?: ClientAssertionExtension | undefined
  readonly pushedAuthorization?: PushedAuthorization | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Provider<S extends string = string, Rules extends ScopeRules<S> = ScopeRules<S>>
  extends OpenIdMetadata
{
  /** A short name for logs: `osu`, `spotify`, or the issuer's host. */
  readonly name: string
  readonly issuer: Option.Option<string>
  readonly authorizationEndpoint: Option.Option<string>
  readonly tokenEndpoint: string
  readonly revocationEndpoint: Option.Option<string>
  readonly deviceAuthorizationEndpoint: Option.Option<string>
  /** The API that the provider's tokens are for, such as `https://osu.ppy.sh/api/v2`. */
  readonly apiBaseUrl: Option.Option<string>
  readonly clientAuthentication: ClientAuthentication
  /** The provider's scopes, read from `scopeRules.known` (none when the rules accept any scope). */
  readonly scopes: ReadonlyArray<S>
  /** The scope policy; a preset's literal rules let the compiler check literal scope requests. */
  readonly scopeRules: Rules
  /** Used when a token response has no `expires_in`. */
  readonly defaultTokenLifetime: Option.Option<Duration.Duration>
  readonly rateLimit: Option.Option<RateLimit>
  /** Whether the server sends `iss` in authorization responses (RFC 9207). */
  readonly authorizationResponseIssParameterSupported: boolean
  /** `http:` endpoints are refused unless the host is loopback or this is set. */
  readonly allowInsecureHttp: boolean
  /**
   * A pause before retrying, once more, an API call refused with a 401 right after a refresh:
   * Spotify's API occasionally refuses a token in the moments after it was issued.
   */
  readonly unauthorizedGracePeriod: Option.Option<Duration.Duration>
  /**
   * Maps the provider's own error shapes onto RFC 6749 §5.2 error bodies (osu!'s 401
   * `invalid_request` "The refresh token is invalid." is an `invalid_grant`). `None` falls back to
   * the standard reading.
   */
  readonly classifyError: (status: number, body: Readonly<Record<string, unknown>>) => Option.Option<ErrorBody>
  /** See {@link Extensions}; absent for a plain OAuth provider. */
  readonly extensions?: Extensions | undefined
}

/**
 * The options of {@link make}: only the token endpoint is required.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options<S extends string, Rules extends ScopeRules<S> = ScopeRules<S>> extends OpenIdMetadata {
  readonly name?: string | undefined
  readonly issuer?: string | undefined
  readonly authorizationEndpoint?: string | undefined
  readonly tokenEndpoint: string
  readonly revocationEndpoint?: string | undefined
  readonly deviceAuthorizationEndpoint?: string | undefined
  readonly apiBaseUrl?: string | undefined
  readonly clientAuthentication?: ClientAuthentication | undefined
  /**
   * The scope policy, with the provider's scopes as its `known` list (default: any scope). Declared
   * `as const`, its scope and rule names are literal types the compiler checks requests against.
   */
  readonly scopeRules?: (Rules & ScopeRules<S>) | undefined
  readonly defaultTokenLifetime?: Duration.Duration | undefined
  readonly rateLimit?: RateLimit | undefined
  readonly authorizationResponseIssParameterSupported?: boolean | undefined
  readonly allowInsecureHttp?: boolean | undefined
  readonly unauthorizedGracePeriod?: Duration.DurationInput | undefined
  /** See {@link Provider.classifyError}. */
  readonly classifyError?: Provider<S>["classifyError"] | undefined
  readonly extensions?: Extensions | undefined
}

/**
 * A provider from its options; defaults: `client_secret_basic`, the permissive scope policy, no
 * default lifetime, no rate limit.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <S extends string = string, Rules extends ScopeRules<S> = ScopeRules<S>>(
  options: Options<S, Rules>
): Provider<S, Rules> => ({
  // The OpenID metadata and extensions pass through as given.
  ...options,
  name: options.name ?? hostOf(options.issuer ?? options.tokenEndpoint),
  issuer: Option.fromNullable(options.issuer),
  authorizationEndpoint: Option.fromNullable(options.authorizationEndpoint),
  tokenEndpoint: options.tokenEndpoint,
  revocationEndpoint: Option.fromNullable(options.revocationEndpoint),
  deviceAuthorizationEndpoint: Option.fromNullable(options.deviceAuthorizationEndpoint),
  apiBaseUrl: Option.fromNullable(options.apiBaseUrl),
  clientAuthentication: options.clientAuthentication ?? "client_secret_basic",
  scopes: options.scopeRules === undefined || options.scopeRules.known === "any" ? [] : options.scopeRules.known,
  scopeRules: options.scopeRules ?? (permissive as Rules),
  defaultTokenLifetime: Option.fromNullable(options.defaultTokenLifetime),
  rateLimit: Option.fromNullable(options.rateLimit),
  authorizationResponseIssParameterSupported: options.authorizationResponseIssParameterSupported ?? false,
  allowInsecureHttp: options.allowInsecureHttp ?? false,
  unauthorizedGracePeriod: Option.map(Option.fromNullable(options.unauthorizedGracePeriod), Duration.decode),
  classifyError: options.classifyError ?? (() => Option.none())
})

const hostOf = (url: string): string => {
  try {
    return new URL(url).host
  } catch {
    return url
  }
}

/**
 * What a test or a proxy may change in a preset (the endpoints, the name, insecure HTTP for a
 * loopback test server); everything else stays the provider's.
 *
 * @since 0.1.0
 * @category models
 */
export interface Overrides {
  readonly name?: string | undefined
  readonly authorizationEndpoint?: string | undefined
  readonly tokenEndpoint?: string | undefined
  readonly apiBaseUrl?: string | undefined
  readonly revocationEndpoint?: string | undefined
  readonly allowInsecureHttp?: boolean | undefined
}

/**
 * A preset's constructor: the provider's own options, with {@link Overrides} applied where given.
 *
 * @since 0.1.0
 * @category constructors
 */
export const preset =
  <S extends string, Rules extends ScopeRules<S> = ScopeRules<S>>(defaults: Options<S, Rules>) =>
  (overrides: Overrides = {}): Provider<S, Rules> => {
    const given = Object.fromEntries(Object.entries(overrides).filter(([, value]) => value !== undefined))
    return make<S, Rules>({ ...defaults, ...given })
  }
