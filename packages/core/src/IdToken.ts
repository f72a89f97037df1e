/**
 * OpenID Connect sign-in: `openId(provider)` makes every login of the provider send a `nonce` and
 * every token response pass the ID token checks of OIDC Core §3.1.3.7 — the signature against the
 * provider's JWKS (cached, read again once for an unknown `kid`), an allow-listed algorithm (never
 * `none`, an HMAC only ever keyed with the client secret), `iss`, `aud` / `azp`, `exp` / `iat` with a
 * clock skew, the nonce, `auth_time` against `max_age`, `at_hash` / `c_hash`. A refresh's new ID
 * token passes them too and keeps `iss`, `sub` and `aud` (§12.2). A token that fails is an
 * {@link IdTokenError} naming the check, and is never returned or stored.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import type { JWTPayload } from "jose"
import { decodeJwt } from "jose"
import type { Grant } from "./Grant.js"
import { randomString } from "./internal/crypto.js"
import { readerOf } from "./internal/endpoint.js"
import * as OAuthErrorBase from "./internal/error.js"
import { checkEndpoint } from "./internal/http.js"
import * as internal from "./internal/idToken.js"
import * as Jwks from "./internal/jwks.js"
import * as Reader from "./internal/reader.js"
import type { TokenRequestError } from "./OAuthError.js"
import { ConfigurationError } from "./OAuthError.js"
import type { Provider } from "./Provider.js"
import { Token } from "./Token.js"
import type { TokenEndpoint } from "./TokenEndpoint.js"

/**
 * The checks an ID token can fail. `Missing`: a login's token response has no `id_token`; `Keys`:
 * the provider's JWKS is unusable; `UnknownKey`: no key of it (read again once) matches the token;
 * `Claims`: a required claim is missing or a custom claims schema does not decode.
 *
 * @since 0.1.0
 * @category models
 */
export const Check = Schema.Literal(
  "Missing",
  "Malformed",
  "Algorithm",
  "Keys",
  "UnknownKey",
  "Signature",
  "Issuer",
  "Audience",
  "AuthorizedParty",
  "Expired",
  "IssuedAt",
  "NotBefore",
  "Nonce",
  "AuthTime",
  "AccessTokenHash",
  "CodeHash",
  "Subject",
  "Claims"
)

/**
 * @since 0.1.0
 * @category models
 */
export type Check = typeof Check.Type

/**
 * An ID token failed a check: nothing was returned or stored. `reason` names the check (see
 * {@link Check}); the message never quotes the token or its nonce.
 *
 * @since 0.1.0
 * @category errors
 */
export class IdTokenError extends OAuthErrorBase.make<IdTokenError>()(
  "IdTokenError",
  {
    reason: Check,
    /** What the check found. */
    detail: Schema.String
  },
  (e) =>
    `The ID token failed the ${e.reason} check: ${e.detail}. It was refused and nothing was stored: ` +
    "sign in again; if it keeps failing, check the issuer, the client id and the allowed algorithms."
) {}

/**
 * The standard claims of an ID token (OIDC Core §2). Extend it for your provider's own claims
 * (`Schema.Struct({ ...IdToken.Claims.fields, email: Schema.String })`) and read them with
 * {@link claims}. The nonce stays `Redacted`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Claims = Schema.Struct({
  iss: Schema.String,
  sub: Schema.String,
  aud: Schema.Union(Schema.String, Schema.Array(Schema.String)),
  exp: Schema.Number,
  iat: Schema.Number,
  auth_time: Schema.optional(Schema.Number),
  nonce: Schema.optional(Schema.Redacted(Schema.String)),
  azp: Schema.optional(Schema.String),
  acr: Schema.optional(Schema.String),
  amr: Schema.optional(Schema.Array(Schema.String)),
  sid: Schema.optional(Schema.String)
})

/**
 * @since 0.1.0
 * @category schemas
 */
export type Claims = typeof Claims.Type

/**
 * The algorithms accepted by default: the asymmetric JWS algorithms. HMACs (`HS256`, keyed with the
 * client secret) must be allowed explicitly; `none` never can be.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultAlgorithms: ReadonlyArray<string> = [
  "RS256",
  "RS384",
  "RS512",
  "PS256",
  "PS384",
  "PS512",
  "ES256",
  "ES384",
  "ES512",
  "EdDSA",
  "Ed25519"
]

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The allowed signing algorithms (default {@link defaultAlgorithms}); `none` is always refused. */
  readonly algorithms?: ReadonlyArray<string> | undefined
  /** How far the provider's clock may be off for `exp`, `iat`, `nbf` and `auth_time` (default 60 seconds). */
  readonly clockSkew?: Duration.DurationInput | undefined
  /** Sent as `max_age` with every login; `auth_time` is then required and checked. */
  readonly maxAge?: Duration.DurationInput | undefined
  /** The JWKS URL (default the provider's `jwks_uri`, as discovery read it). */
  readonly jwksUri?: string | undefined
  /** The least time between two reads of the JWKS for an unknown `kid` (default 30 seconds). */
  readonly jwksCooldown?: Duration.DurationInput | undefined
  /** How long a JWKS is used before it is read again (default 10 minutes). */
  readonly jwksMaxAge?: Duration.DurationInput | undefined
}

/**
 * What the token endpoint hands the extension with each successful token response.
 *
 * @since 0.1.0
 * @category models
 */
export interface Response {
  /** The endpoint that received it: its provider, its client, and its HTTP client for the JWKS. */
  readonly endpoint: TokenEndpoint
  readonly body: Readonly<Record<string, unknown>>
  readonly token: Token
  readonly grant: Grant
  readonly previous: Token | undefined
  /** The nonce of the login whose code was exchanged, from its transaction. */
  readonly nonce: Option.Option<Redacted.Redacted<string>>
}

/**
 * What {@link Extension.login} adds to one login.
 *
 * @since 0.1.0
 * @category models
 */
export interface Login {
  /** The login's nonce: kept in its transaction, checked in the ID token of its code exchange. */
  readonly nonce: Redacted.Redacted<string>
  /** The query parameters of the authorization request: `nonce`, and `max_age` when set. */
  readonly params: ReadonlyArray<readonly [string, string]>
}

/**
 * The OpenID Connect extension of a provider (see `Provider.Extensions`), built by {@link openId}.
 *
 * @since 0.1.0
 * @category models
 */
export interface Extension {
  /** A fresh nonce (256 random bits) for one login, and the parameters `Authorization.start` sends. */
  readonly login: Effect.Effect<Login, ConfigurationError>
  /** Checks a token response's `id_token`; the token with it, or the previous one's on a refresh without. */
  readonly check: (response: Response) => Effect.Effect<Token, IdTokenError | TokenRequestError | ConfigurationError>
  /** How many times the JWKS was fetched. */
  readonly jwksFetches: () => number
}

const toError = <E extends TokenRequestError | ConfigurationError>(error: internal.Failure | E): IdTokenError | E =>
  error._tag === "Failure" ? new IdTokenError({ reason: error.check, detail: error.detail }) : error

// The JWKS is read like the endpoint's own answers: its HTTP client, timeouts, caps and secrets.
const readWith = (endpoint: TokenEndpoint): Jwks.GetJson => (url) =>
  Effect.flatMap(readerOf(endpoint), (reader) => Reader.getJson(reader, url))

const payloadOf = (idToken: Redacted.Redacted<string>): Option.Option<JWTPayload> => {
  try {
    return Option.some(decodeJwt(Redacted.value(idToken)))
  } catch {
    return Option.none()
  }
}

/**
 * The ID token extension itself, for a provider with an `issuer` and a JWKS.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options = {}): Extension => {
  const algorithms = options.algorithms ?? defaultAlgorithms
  const skewSeconds = Duration.toSeconds(options.clockSkew ?? Duration.seconds(60))
  const maxAgeSeconds = Option.map(
    Option.fromNullable(options.maxAge),
    (maxAge) => Math.floor(Duration.toSeconds(maxAge))
  )
  const cache = Jwks.make({
    cooldownMillis: Duration.toMillis(options.jwksCooldown ?? Duration.seconds(30)),
    maxAgeMillis: Duration.toMillis(options.jwksMaxAge ?? Duration.minutes(10))
  })
  const check: Extension["check"] = (response) =>
    Effect.gen(function*() {
      const { body, endpoint, grant, previous, token } = response
      const { client, provider } = endpoint
      const idToken = body.id_token
      const login = grant._tag === "AuthorizationCode"
      if (idToken === undefined || idToken === null) {
        if (login) return yield* new IdTokenError({ reason: "Missing", detail: "the token response has no id_token" })
        // A refresh without a new ID token keeps the one of the login (§12.2).
        return new Token({ ...token, idToken: previous?.idToken ?? Option.none() })
      }
      if (typeof idToken !== "string") {
        return yield* new IdTokenError({ reason: "Malformed", detail: "id_token is not a string" })
      }
      if (Option.isNone(provider.issuer)) {
        return yield* new ConfigurationError({
          reason: "MissingEndpoint",
          detail: `${provider.name} has no issuer to check ID tokens against`
        })
      }
      const jwksUri = options.jwksUri ?? provider.jwksUri
      if (jwksUri === undefined) {
        return yield* new ConfigurationError({
          reason: "MissingEndpoint",
          detail: `${provider.name} has no jwks_uri: discover the provider, or pass jwksUri to IdToken.openId`
        })
      }
      const jwksUrl = yield* checkEndpoint(jwksUri, provider.allowInsecureHttp)
      const jwt = Redacted.make(idToken)
      const previousClaims = Option.flatMap(Option.fromNullable(previous), (p) => Option.flatMap(p.idToken, payloadOf))
      yield* internal.verify(jwt, {
        issuer: provider.issuer.value,
        clientId: client.clientId,
        clientSecret: client.clientSecret,
        algorithms,
        skewSeconds,
        now: yield* Clock.currentTimeMillis,
        // A login's nonce is its transaction's; a refresh's ID token may only repeat the login's.
        nonce: login ?
          response.nonce :
          Option.flatMap(
            previousClaims,
            (claims) => typeof claims.nonce === "string" ? Option.some(Redacted.make(claims.nonce)) : Option.none()
          ),
        nonceRequired: login,
        maxAgeSeconds: login ? maxAgeSeconds : Option.none(),
        accessToken: Option.some(token.accessToken),
        code: grant._tag === "AuthorizationCode" ? Option.some(grant.code) : Option.none(),
        previous: previousClaims,
        key: (header) => cache.key(jwksUrl.href, header, readWith(endpoint))
      }).pipe(Effect.mapError(toError))
      return new Token({ ...token, idToken: Option.some(jwt) })
    }).pipe(Effect.withSpan("IdToken.check", { captureStackTrace: false }))
  const maxAgeParam = Option.toArray(Option.map(maxAgeSeconds, (seconds) => ["max_age", `${seconds}`] as const))
  const login: Extension["login"] = Effect.map(
    randomString(32),
    (nonce) => ({ nonce: Redacted.make(nonce), params: [["nonce", nonce], ...maxAgeParam] })
  )
  return { login, check, jwksFetches: cache.fetches }
}

/**
 * The provider with OpenID Connect on: its logins send a nonce (and `max_age` when given), and its
 * token responses are checked as described above. Needs the provider's `issuer` and a JWKS URL
 * (`Discovery.discover` reads both).
 *
 * @since 0.1.0
 * @category constructors
 */
export const openId = <P extends Provider<string>>(provider: P, options: Options = {}): P => ({
  ...provider,
  extensions: { ...provider.extensions, openId: make(options) }
})

/**
 * The claims of a token's ID token, decoded with `schema` (default {@link Claims}); `None` when the
 * token has none. The ID token was checked when the token was received; this only decodes it.
 *
 * @since 0.1.0
 * @category getters
 */
export const claims: {
  (token: Token): Effect.Effect<Option.Option<Claims>, IdTokenError>
  <A, I>(token: Token, schema: Schema.Schema<A, I>): Effect.Effect<Option.Option<A>, IdTokenError>
} = <A, I>(token: Token, schema?: Schema.Schema<A, I>) =>
  Effect.suspend(() => {
    if (Option.isNone(token.idToken)) return Effect.succeed(Option.none())
    const payload = payloadOf(token.idToken.value)
    if (Option.isNone(payload)) {
      return Effect.fail(new IdTokenError({ reason: "Malformed", detail: "the stored ID token is not a JWT" }))
    }
    const decoded: Either.Either<A | Claims, unknown> =
      (schema === undefined ? Schema.decodeUnknownEither(Claims) : Schema.decodeUnknownEither(schema))(
        payload.value
      )
    return Either.isRight(decoded)
      ? Effect.succeed(Option.some(decoded.right))
      : Effect.fail(
        new IdTokenError({ reason: "Claims", detail: "the ID token's claims do not match the claims schema" })
      )
  })

/**
 * The RP-initiated logout URL (OpenID Connect RP-Initiated Logout 1.0): the provider's
 * `end_session_endpoint` with `client_id`, the token's ID token as `id_token_hint`, and the
 * `post_logout_redirect_uri` and `state` when given. Send the user there, then forget the token.
 *
 * @since 0.1.0
 * @category utils
 */
export const logoutUrl = (
  provider: Provider<string>,
  options: {
    readonly clientId: string
    readonly token?: Token | undefined
    readonly postLogoutRedirectUri?: string | undefined
    readonly state?: string | undefined
  }
): Either.Either<string, ConfigurationError> => {
  if (provider.endSessionEndpoint === undefined) {
    return Either.left(
      new ConfigurationError({ reason: "MissingEndpoint", detail: `${provider.name} has no end_session_endpoint` })
    )
  }
  return Either.map(checkEndpoint(provider.endSessionEndpoint, provider.allowInsecureHttp), (endpoint) => {
    const url = new URL(endpoint)
    url.searchParams.set("client_id", options.clientId)
    if (options.token !== undefined && Option.isSome(options.token.idToken)) {
      url.searchParams.set("id_token_hint", Redacted.value(options.token.idToken.value))
    }
    if (options.postLogoutRedirectUri !== undefined) {
      url.searchParams.set("post_logout_redirect_uri", options.postLogoutRedirectUri)
    }
    if (options.state !== undefined) url.searchParams.set("state", options.state)
    return url.toString()
  })
}
