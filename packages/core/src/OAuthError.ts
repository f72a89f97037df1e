/**
 * The typed errors of effect-oauth, as one family in the style of `@effect/platform`'s
 * `HttpClientError`. Every failure the library can produce is an {@link OAuthError}: it carries
 * {@link TypeId} (test with {@link isOAuthError}), belongs to one of a few classes grouped by what
 * the caller does next, and says in its `reason` field what happened. {@link isFatal} and
 * {@link isTransient} tell a caller (and the library's own retry loops) whether to stop or to retry.
 * Each message says what happened and what to do, and none ever carries a secret (client secret,
 * token, code, verifier, state or `Authorization` header). `docs/errors.md` lists every error.
 *
 * The `_tag` of every class is `@effect-oauth/<Class>` (also its schema identifier): a plain tag such
 * as `TransportError` could be another library's too, and `Effect.catchTag` would then catch both;
 * the npm scope is the library's own, so no other error can carry it. The ID-token and UserInfo
 * errors live in their modules (`IdToken.IdTokenError`, `UserInfo.UserInfoError`) so that a bundle
 * without OpenID Connect does not carry them; they are members of the family all the same.
 *
 * @since 0.1.0
 */
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"
import type { IdTokenError } from "./IdToken.js"
import * as internal from "./internal/error.js"
import type { UserInfoError } from "./UserInfo.js"

/**
 * The symbol every error of the library carries.
 *
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: typeof internal.TypeId = internal.TypeId

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * The RFC 6749 §5.2 error codes. Providers may send others (osu! sends whole sentences), so the
 * `error` field of a {@link TokenRequestError} is any string; these are the ones with a known meaning.
 *
 * @since 0.1.0
 * @category models
 */
export const ErrorCode = /* @__PURE__ */ Schema.Literal(
  "invalid_request",
  "invalid_client",
  "invalid_grant",
  "unauthorized_client",
  "unsupported_grant_type",
  "invalid_scope",
  "access_denied",
  "unsupported_response_type",
  "server_error",
  "temporarily_unavailable",
  "authorization_pending",
  "slow_down",
  "expired_token"
)

/**
 * @since 0.1.0
 * @category models
 */
export type ErrorCode = typeof ErrorCode.Type

const suffix = (text: string | undefined, before = ": ") => text === undefined || text === "" ? "" : before + text

const hintFor = (code: string | undefined): string => {
  switch (code) {
    case "invalid_grant":
      return "The code or refresh token is invalid, expired or already used: sign in again."
    case "invalid_scope":
      return "The server refused the requested scopes: ask only for scopes this client is allowed."
    case "unauthorized_client":
    case "unsupported_grant_type":
      return "This client is not allowed to use this grant: check its registration with the provider."
    default:
      return "Check the request against the provider's documentation."
  }
}

/**
 * A request to one of the provider's endpoints (token, revocation, device authorization,
 * introspection, discovery, UserInfo) did not give a usable answer. `reason`:
 *
 * - `ErrorResponse`: the server refused with an RFC 6749 §5.2 error (`error`, `description`, `uri`,
 *   `status`), or a provider's own error shape mapped onto one. `invalid_scope` here is the
 *   server's refusal; the client-side rule check is a {@link ScopeError}.
 * - `ClientAuthentication`: the server did not accept the client's credentials (`invalid_client`).
 * - `Transport`: no answer came; `kind` is `Network`, `Timeout` (one attempt) or `Deadline` (all of them).
 * - `Transient`: the server failed for now (HTTP 5xx, `server_error`, `temporarily_unavailable`).
 * - `RateLimited`: the server asked the client to slow down (HTTP 429).
 * - `InvalidResponse`: an answer came, but not a usable one; `kind` says how (`NotJson`,
 *   `NotObject`, `InvalidField` with `field`, `Redirect`, `BodyTooLarge`, `UnexpectedStatus`).
 *
 * @since 0.1.0
 * @category errors
 */
export class TokenRequestError extends internal.make<TokenRequestError>()("TokenRequestError", {
  reason: Schema.Literal(
    "ErrorResponse",
    "ClientAuthentication",
    "Transport",
    "Transient",
    "RateLimited",
    "InvalidResponse"
  ),
  /** How a `Transport` or `InvalidResponse` failure happened. */
  kind: Schema.optional(
    Schema.Literal(
      "Network",
      "Timeout",
      "Deadline",
      "NotJson",
      "NotObject",
      "InvalidField",
      "Redirect",
      "BodyTooLarge",
      "UnexpectedStatus"
    )
  ),
  /** The HTTP status of the answer; absent when none came (`Transport`). */
  status: Schema.optional(Schema.Number),
  /** The RFC 6749 §5.2 `error` code the server sent. */
  error: Schema.optional(Schema.String),
  /** The server's own text (`error_description`, or a preview of a 5xx page), the client's secrets taken out. */
  description: Schema.optional(Schema.String),
  /** The server's `error_uri`. */
  uri: Schema.optional(Schema.String),
  /** The field of the response that is missing or malformed (`InvalidResponse`, kind `InvalidField`). */
  field: Schema.optional(Schema.String),
  /** What the library found. */
  detail: Schema.optional(Schema.String),
  /** The server's `Retry-After` (with a 429 or a 503), in milliseconds, when it sent one. */
  retryAfterMillis: Schema.optional(Schema.Number),
  /**
   * `false` when the request must not be sent again: an authorization-code exchange, whose code is
   * single use (RFC 6749 §4.1.2). Absent means it may be retried.
   */
  retryable: Schema.optional(Schema.Boolean)
}, (e) => {
  const http = e.status === undefined ? "" : ` (HTTP ${e.status})`
  switch (e.reason) {
    case "ErrorResponse":
      return `The authorization server refused the request with ${e.error}${http}${suffix(e.description)}. ` +
        hintFor(e.error)
    case "ClientAuthentication":
      return `The authorization server rejected the client credentials${http}${suffix(e.description, " ")}. ` +
        "Check the client id and secret; a reset secret must be configured again."
    case "Transport":
      return `The request to the authorization server failed (${e.kind})${suffix(e.detail)}. ` +
        (e.retryable === false
          ? "Do not send it again: start the login again for a new code."
          : "Check the network and the endpoint URL; the request may be retried.")
    case "Transient":
      return `The authorization server is failing for now${http}${suffix(e.description)}. Retry later.`
    case "RateLimited":
      return `The server is rate limiting this client${http}: wait` +
        (e.retryAfterMillis === undefined ? "" : ` for ${Math.ceil(e.retryAfterMillis / 1000)} s`) +
        " and send fewer requests."
    case "InvalidResponse":
      return `The server's response${http} is not a valid answer: ${e.kind}${suffix(e.field, " (field ")}` +
        `${e.field === undefined ? "" : ")"}${
          suffix(e.detail)
        }. Check that the endpoint URL points at the provider's endpoint.`
  }
}) {}

/**
 * An interactive login failed before or at its callback: `reason` is `StateMismatch` (wrong,
 * replayed or expired state), `MissingState`, `WrongProvider`, `IssuerMismatch` (RFC 9207),
 * `IssuerNotConfigured`, `MissingCode`, `DuplicateParameter`, `TokenInCallback`, `InvalidCallback`,
 * `Denied` (the user or server refused; `error` and `description` say how) or `Timeout`. The
 * caller starts the login again.
 *
 * @since 0.1.0
 * @category errors
 */
export class AuthorizationError extends internal.make<AuthorizationError>()("AuthorizationError", {
  reason: Schema.Literal(
    "StateMismatch",
    "MissingState",
    "WrongProvider",
    "IssuerMismatch",
    "IssuerNotConfigured",
    "MissingCode",
    "DuplicateParameter",
    "TokenInCallback",
    "InvalidCallback",
    "Denied",
    "Timeout"
  ),
  /** The RFC 6749 §4.1.2.1 `error` code of a refusal. */
  error: Schema.optional(Schema.String),
  /** The server's `error_description`, or what the library found. */
  description: Schema.optional(Schema.String)
}, (e) => {
  const again = " Start the login again."
  switch (e.reason) {
    case "Denied":
      return `The authorization was refused (${e.error ?? "access_denied"})${suffix(e.description)}.${again}`
    case "StateMismatch":
      return `The callback's state matches no login in progress (it is wrong, replayed or expired)${
        suffix(e.description)
      }.${again}`
    case "MissingState":
      return `The callback carries no state.${again}`
    case "WrongProvider":
      return `The callback's state belongs to a login with another provider.${again}`
    case "IssuerMismatch":
      return `The callback's iss is not the provider's issuer (a mix-up attack?).${again}`
    case "IssuerNotConfigured":
      return `The callback carries iss (RFC 9207), but the provider${suffix(e.description, " ")} has no issuer ` +
        "to check it against. Set the provider's issuer, then start the login again."
    case "MissingCode":
      return `The callback carries neither a code nor an error.${again}`
    case "DuplicateParameter":
      return `The callback repeats the parameter ${e.description ?? ""}.${again}`
    case "TokenInCallback":
      return `The callback carries a token in its URL, which an authorization-code login never does.${again}`
    case "Timeout":
      return `No callback arrived in time${suffix(e.description)}.${again}`
    case "InvalidCallback":
      return `The callback is not a valid authorization response${suffix(e.description)}.${again}`
  }
}) {}

/**
 * The scopes are wrong for what was asked, found by the client: `reason` is `Insufficient` (the
 * token lacks `required` scopes: checked before a request, or a 403 `insufficient_scope`),
 * `BreaksRule` (the requested scopes break the provider's `rule` for `grant`, as `ScopeRules.validate`
 * checks; nothing was sent) or `Malformed` (`scope` is outside the RFC 6749 §3.3 grammar). A
 * server's refusal of the requested scopes is a {@link TokenRequestError} with `invalid_scope`.
 *
 * @since 0.1.0
 * @category errors
 */
export class ScopeError extends internal.make<ScopeError>()("ScopeError", {
  reason: Schema.Literal("Insufficient", "BreaksRule", "Malformed"),
  /** The scopes the request needs (`Insufficient`). */
  required: Schema.optional(Schema.Array(Schema.String)),
  /** The scopes the token has (`Insufficient`). */
  granted: Schema.optional(Schema.Array(Schema.String)),
  /** The scopes asked for (`BreaksRule`). */
  requested: Schema.optional(Schema.Array(Schema.String)),
  /** The broken rule (`BreaksRule`). */
  rule: Schema.optional(Schema.String),
  /** The grant the scopes were asked for (`BreaksRule`). */
  grant: Schema.optional(Schema.String),
  /** The scope that is not valid (`Malformed`). */
  scope: Schema.optional(Schema.String),
  /** What the rule says. */
  detail: Schema.optional(Schema.String)
}, (e) => {
  switch (e.reason) {
    case "Insufficient": {
      const required = e.required ?? []
      const granted = e.granted ?? []
      const missing = required.filter((scope) => !granted.includes(scope))
      return `This request needs the scopes [${required.join(" ")}] but the token has [${granted.join(" ")}]` +
        (missing.length > 0 ? ` (missing ${missing.join(" ")})` : "") +
        ". Ask for the missing scopes when signing in."
    }
    case "BreaksRule":
      return `The scopes [${(e.requested ?? []).join(" ")}] are not allowed for the ${e.grant} grant ` +
        `(rule ${e.rule})${suffix(e.detail)}. Nothing was sent: change the requested scopes.`
    case "Malformed":
      return `${JSON.stringify(e.scope ?? "")} is not a valid scope: a scope is one or more printable ASCII ` +
        "characters other than space, double quote and backslash."
  }
}) {}

/**
 * The authorized client refused to send a request, so its token does not reach a server it is not
 * for: the origin is not trusted (`NotTrusted`; by default only the origin of the provider's
 * `apiBaseUrl` is), no origin is (`NoTrustedOrigin`), the request is plain `http:` to a host that is
 * not loopback (`InsecureHttp`, RFC 6750 §5.3), or its URL is not valid (`InvalidUrl`). Nothing was sent.
 *
 * @since 0.1.0
 * @category errors
 */
export class UntrustedOrigin extends internal.make<UntrustedOrigin>()("UntrustedOrigin", {
  reason: Schema.Literal("NotTrusted", "NoTrustedOrigin", "InsecureHttp", "InvalidUrl"),
  /** The request's origin (`https://host:port`); empty when the URL is not valid. */
  origin: Schema.String,
  /** The origins that do get the token. */
  trusted: Schema.Array(Schema.String)
}, (e) => {
  const notSent = `The request to ${e.origin} was not sent: `
  switch (e.reason) {
    case "NoTrustedOrigin":
      return notSent + "no origin is trusted with the token, because the provider has no apiBaseUrl. Set " +
        "apiBaseUrl on the provider, or list the API's origin in the trustedOrigins option of AuthorizedHttpClient.layer."
    case "NotTrusted":
      return notSent + "the token is only for " +
        `${e.trusted.length === 0 ? "the origins trustedOrigins accepts" : e.trusted.join(", ")}. ` +
        "If this origin should get the token, add it to the trustedOrigins option of AuthorizedHttpClient.layer."
    case "InsecureHttp":
      return notSent + "the token never goes over plain http to a host that is not loopback (RFC 6750 §5.3). " +
        "Use https, or set allowInsecureHttp in the options of AuthorizedHttpClient.layer if the network is trusted."
    case "InvalidUrl":
      return "The request was not sent: its URL is not a valid absolute URL, so its origin cannot be checked. " +
        "Use an absolute URL under the provider's apiBaseUrl."
  }
}) {}

/**
 * The session cannot go on without the user: there is no token (`NoToken`), the refresh token was
 * rejected and no newer token was stored (`RefreshRejected`), there is none (`NoRefreshToken`), or the
 * session was revoked (`Revoked`). The caller signs the user in again.
 *
 * @since 0.1.0
 * @category errors
 */
export class ReauthorizationRequired extends internal.make<ReauthorizationRequired>()("ReauthorizationRequired", {
  reason: Schema.Literal("NoToken", "RefreshRejected", "NoRefreshToken", "Revoked"),
  /** What happened. */
  detail: Schema.String
}, (e) => `The user has to sign in again (${e.reason}): ${e.detail}`) {}

/**
 * The configuration cannot work; the caller fixes it. `reason`: `InvalidUrl` (an endpoint or
 * redirect URI is not a valid URL for its use), `InsecureUrl` (an `http:` endpoint on a host that is
 * not loopback, without `allowInsecureHttp`), `MissingEndpoint` (the provider lacks what the call
 * needs: an endpoint, an issuer, a JWKS, an extension), `InvalidMetadata` (discovery or a pushed
 * authorization request answered with unusable metadata), `InvalidOption` (an option's value, such
 * as an encryption key or a signing key), `Environment` (the runtime lacks something: WebCrypto,
 * `sessionStorage`, a home directory, a free port, a safe token directory).
 *
 * @since 0.1.0
 * @category errors
 */
export class ConfigurationError extends internal.make<ConfigurationError>()("ConfigurationError", {
  reason: Schema.Literal(
    "InvalidUrl",
    "InsecureUrl",
    "MissingEndpoint",
    "InvalidMetadata",
    "InvalidOption",
    "Environment"
  ),
  /** What is wrong, and how to fix it. */
  detail: Schema.String
}, (e) => `Invalid OAuth configuration (${e.reason}): ${e.detail}`) {}

/**
 * A token store (or the fleet's rate-limit store) failed: `reason` names the operation that failed
 * (`Get`, `Set`, `Remove`, `Lock`), or `Unavailable` when the store could not be reached at all
 * when its layer was built.
 *
 * @since 0.1.0
 * @category errors
 */
export class StoreError extends internal.make<StoreError>()("StoreError", {
  reason: Schema.Literal("Get", "Set", "Remove", "Lock", "Unavailable"),
  /** What failed; a store's address names its host and port, never a password. */
  detail: Schema.String
}, (e) =>
  e.reason === "Unavailable"
    ? `The store is unavailable: ${e.detail}. Check that it runs, and its address and credentials.`
    : `The token store failed to ${e.reason.toLowerCase()}: ${e.detail}`)
{}

/**
 * Every error of the library.
 *
 * @since 0.1.0
 * @category models
 */
export type OAuthError =
  | TokenRequestError
  | AuthorizationError
  | ScopeError
  | UntrustedOrigin
  | ReauthorizationRequired
  | ConfigurationError
  | StoreError
  | IdTokenError
  | UserInfoError

/**
 * Whether a value is an error of the library.
 *
 * @since 0.1.0
 * @category guards
 */
export const isOAuthError = (u: unknown): u is OAuthError => Predicate.hasProperty(u, TypeId)

/**
 * The errors that sending the same request again cannot fix: the server's refusal
 * (`ErrorResponse`, `ClientAuthentication`), a failed login, wrong scopes, a refused origin,
 * reauthorization, configuration, and the OpenID Connect checks. A slot that meets one stops
 * refreshing until it is given a new token.
 *
 * @since 0.1.0
 * @category models
 */
export type Fatal =
  | (TokenRequestError & { readonly reason: "ErrorResponse" | "ClientAuthentication" })
  | AuthorizationError
  | ScopeError
  | UntrustedOrigin
  | ReauthorizationRequired
  | ConfigurationError
  | IdTokenError
  | UserInfoError

/**
 * The errors worth retrying with backoff: no answer (`Transport`, also past the `Deadline`, but
 * never a single-use code exchange), a failing server (`Transient`) and a rate limit (`RateLimited`,
 * waiting at least its `retryAfterMillis`).
 *
 * @since 0.1.0
 * @category models
 */
export type Transient = TokenRequestError & { readonly reason: "Transport" | "Transient" | "RateLimited" }

/**
 * Whether an error is {@link Fatal}: retrying cannot help. An error that is neither fatal nor
 * transient (an unusable response, a failed store) may succeed later, but not by sending the same
 * request at once.
 *
 * @since 0.1.0
 * @category guards
 */
export const isFatal = (u: unknown): u is Fatal =>
  isOAuthError(u) && (
    u._tag === TokenRequestError._tag
      ? u.reason === "ErrorResponse" || u.reason === "ClientAuthentication"
      : u._tag !== StoreError._tag
  )

/**
 * Whether an error is {@link Transient}: worth retrying with backoff.
 *
 * @since 0.1.0
 * @category guards
 */
export const isTransient = (u: unknown): u is Transient =>
  isOAuthError(u) && u._tag === TokenRequestError._tag && (
    u.reason === "Transient" || u.reason === "RateLimited" ||
    (u.reason === "Transport" && u.retryable !== false)
  )
