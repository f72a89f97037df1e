/**
 * The typed errors of effect-oauth. Every failure the library can produce is one of these: each
 * says what happened and what to do, and none of them ever carries a secret (client secret, token,
 * code, verifier, state or `Authorization` header).
 *
 * @since 0.1.0
 */
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"
import type { InvalidIdToken } from "./IdToken.js"

const id = (name: string) => `@effect-oauth/core/OAuthError/${name}`

/**
 * The RFC 6749 §5.2 error codes. Providers may send others (osu! sends whole sentences), so the
 * `error` field of {@link ErrorResponse} is any string; these are the ones with a known meaning.
 *
 * @since 0.1.0
 * @category models
 */
export const ErrorCode = Schema.Literal(
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

/**
 * The server answered with an RFC 6749 §5.2 error response (or a provider's own error shape that
 * was mapped onto one).
 *
 * @since 0.1.0
 * @category errors
 */
export class ErrorResponse extends Schema.TaggedError<ErrorResponse>(id("ErrorResponse"))("ErrorResponse", {
  error: Schema.String,
  description: Schema.optional(Schema.String),
  uri: Schema.optional(Schema.String),
  status: Schema.Number
}) {
  /**
   * @since 0.1.0
   */
  override get message(): string {
    const description = this.description === undefined ? "" : `: ${this.description}`
    return `The authorization server refused the request with ${this.error} (HTTP ${this.status})${description}. ` +
      hintFor(this.error)
  }
}

const hintFor = (code: string): string => {
  switch (code) {
    case "invalid_grant":
      return "The code or refresh token is invalid, expired or already used: sign in again."
    case "invalid_scope":
      return "Ask only for scopes this client is allowed."
    case "unauthorized_client":
    case "unsupported_grant_type":
      return "This client is not allowed to use this grant: check its registration with the provider."
    default:
      return "Check the request against the provider's documentation."
  }
}

/**
 * The server answered, but not with a usable token response: the body is not JSON, a field is
 * missing or malformed, the server redirected, or the body was too large.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidTokenResponse
  extends Schema.TaggedError<InvalidTokenResponse>(id("InvalidTokenResponse"))("InvalidTokenResponse", {
    reason: Schema.Literal("NotJson", "NotObject", "InvalidField", "Redirect", "BodyTooLarge", "UnexpectedStatus"),
    status: Schema.Number,
    field: Schema.optional(Schema.String),
    detail: Schema.String
  })
{
  /**
   * @since 0.1.0
   */
  override get message(): string {
    const field = this.field === undefined ? "" : ` (field ${this.field})`
    return `The server's response (HTTP ${this.status}) is not a valid token response: ${this.reason}${field}: ${this.detail}. ` +
      "Check that the endpoint URL points at the provider's token endpoint."
  }
}

/**
 * The request did not get an answer: the connection failed, an attempt timed out, or the overall
 * deadline passed.
 *
 * @since 0.1.0
 * @category errors
 */
export class TransportError extends Schema.TaggedError<TransportError>(id("TransportError"))("TransportError", {
  reason: Schema.Literal("Network", "Timeout", "Deadline"),
  detail: Schema.String,
  /**
   * `false` when the request must not be sent again: an authorization-code exchange, whose code is
   * single use (RFC 6749 §4.1.2). Absent means it may be retried.
   */
  retryable: Schema.optional(Schema.Boolean)
}) {
  /**
   * @since 0.1.0
   */
  override get message(): string {
    return `The request to the authorization server failed (${this.reason}): ${this.detail}. ` +
      (this.retryable === false
        ? "Do not send it again: start the login again for a new code."
        : "Check the network and the endpoint URL; the request may be retried.")
  }
}

/**
 * The server failed for now (HTTP 5xx, `server_error`, `temporarily_unavailable`). Worth retrying.
 *
 * @since 0.1.0
 * @category errors
 */
export class TransientServerError
  extends Schema.TaggedError<TransientServerError>(id("TransientServerError"))("TransientServerError", {
    status: Schema.Number,
    preview: Schema.String,
    /** The server's `Retry-After` (e.g. with a 503), in milliseconds, when it sent one. */
    retryAfterMillis: Schema.optional(Schema.Number)
  })
{
  /**
   * @since 0.1.0
   */
  override get message(): string {
    const preview = this.preview.length === 0 ? "" : `: ${this.preview}`
    return `The authorization server is failing for now (HTTP ${this.status})${preview}. Retry later.`
  }
}

/**
 * The server asked us to slow down (HTTP 429). `retryAfterMillis` is its `Retry-After`, when sent.
 *
 * @since 0.1.0
 * @category errors
 */
export class RateLimited extends Schema.TaggedError<RateLimited>(id("RateLimited"))("RateLimited", {
  status: Schema.Number,
  retryAfterMillis: Schema.optional(Schema.Number)
}) {
  /**
   * @since 0.1.0
   */
  override get message(): string {
    const after = this.retryAfterMillis === undefined ? "" : ` for ${Math.ceil(this.retryAfterMillis / 1000)} s`
    return `The server is rate limiting this client (HTTP ${this.status}): wait${after} and send fewer requests.`
  }
}

/**
 * The callback of an authorization-code login was rejected, or the user (or server) denied the
 * authorization.
 *
 * @since 0.1.0
 * @category errors
 */
export class AuthorizationResponseError
  extends Schema.TaggedError<AuthorizationResponseError>(id("AuthorizationResponseError"))(
    "AuthorizationResponseError",
    {
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
      error: Schema.optional(Schema.String),
      description: Schema.optional(Schema.String)
    }
  )
{
  /**
   * @since 0.1.0
   */
  override get message(): string {
    switch (this.reason) {
      case "Denied": {
        const description = this.description === undefined ? "" : `: ${this.description}`
        return `The authorization was refused (${this.error ?? "access_denied"})${description}. Start the login again.`
      }
      case "StateMismatch":
        return "The callback's state matches no login in progress (it is wrong, replayed or expired). Start the login again."
      case "MissingState":
        return "The callback carries no state. Start the login again."
      case "WrongProvider":
        return "The callback's state belongs to a login with another provider. Start the login again."
      case "IssuerMismatch":
        return "The callback's iss is not the provider's issuer (a mix-up attack?). Start the login again."
      case "IssuerNotConfigured":
        return `The callback carries iss (RFC 9207), but the provider${
          this.description === undefined ? "" : ` ${this.description}`
        } has no issuer to check it against. Set the provider's issuer, then start the login again.`
      case "MissingCode":
        return "The callback carries neither a code nor an error. Start the login again."
      case "DuplicateParameter":
        return `The callback repeats the parameter ${this.description ?? ""}. Start the login again.`
      case "TokenInCallback":
        return "The callback carries a token in its URL, which an authorization-code login never does. Start the login again."
      case "Timeout":
        return "No callback arrived in time. Start the login again."
      case "InvalidCallback":
        return `The callback is not a valid authorization response${
          this.description === undefined ? "" : `: ${this.description}`
        }. Start the login again.`
    }
  }
}

/**
 * The token does not have the scopes a request needs. Nothing was sent when this is raised before
 * a request; a 403 `insufficient_scope` from the API raises it too.
 *
 * @since 0.1.0
 * @category errors
 */
export class InsufficientScope extends Schema.TaggedError<InsufficientScope>(id("InsufficientScope"))(
  "InsufficientScope",
  {
    required: Schema.Array(Schema.String),
    granted: Schema.Array(Schema.String)
  }
) {
  /**
   * @since 0.1.0
   */
  override get message(): string {
    const missing = this.required.filter((scope) => !this.granted.includes(scope))
    return `This request needs the scopes [${this.required.join(" ")}] but the token has [${this.granted.join(" ")}]` +
      (missing.length > 0 ? ` (missing ${missing.join(" ")})` : "") +
      ". Ask for the missing scopes when signing in."
  }
}

/**
 * The authorized client refused to send a request, so its token does not reach a server it is not
 * for: the origin is not trusted (by default only the origin of the provider's `apiBaseUrl` is),
 * or the request is plain `http:` to a host that is not loopback (RFC 6750 §5.3). Nothing was sent.
 *
 * @since 0.1.0
 * @category errors
 */
export class UntrustedOrigin extends Schema.TaggedError<UntrustedOrigin>(id("UntrustedOrigin"))("UntrustedOrigin", {
  reason: Schema.Literal("NotTrusted", "NoTrustedOrigin", "InsecureHttp", "InvalidUrl"),
  /** The request's origin (`https://host:port`); empty when the URL is not valid. */
  origin: Schema.String,
  /** The origins that do get the token. */
  trusted: Schema.Array(Schema.String)
}) {
  /**
   * @since 0.1.0
   */
  override get message(): string {
    switch (this.reason) {
      case "NoTrustedOrigin":
        return `The request to ${this.origin} was not sent: no origin is trusted with the token, because the ` +
          "provider has no apiBaseUrl. Set apiBaseUrl on the provider, or list the API's origin in the " +
          "trustedOrigins option of AuthorizedHttpClient.layer."
      case "NotTrusted":
        return `The request to ${this.origin} was not sent: the token is only for ` +
          `${this.trusted.length === 0 ? "the origins trustedOrigins accepts" : this.trusted.join(", ")}. ` +
          "If this origin should get the token, add it to the trustedOrigins option of AuthorizedHttpClient.layer."
      case "InsecureHttp":
        return `The request to ${this.origin} was not sent: the token never goes over plain http to a host that ` +
          "is not loopback (RFC 6750 §5.3). Use https, or set allowInsecureHttp in the options of " +
          "AuthorizedHttpClient.layer if the network is trusted."
      case "InvalidUrl":
        return "The request was not sent: its URL is not a valid absolute URL, so its origin cannot be checked. " +
          "Use an absolute URL under the provider's apiBaseUrl."
    }
  }
}

/**
 * The requested scopes break one of the provider's scope rules (for example osu!'s delegation
 * rules). Raised before any request is sent.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidScopeRequest
  extends Schema.TaggedError<InvalidScopeRequest>(id("InvalidScopeRequest"))("InvalidScopeRequest", {
    rule: Schema.String,
    grant: Schema.String,
    requested: Schema.Array(Schema.String),
    detail: Schema.String
  })
{
  /**
   * @since 0.1.0
   */
  override get message(): string {
    return `The scopes [${this.requested.join(" ")}] are not allowed for the ${this.grant} grant ` +
      `(rule ${this.rule}): ${this.detail}`
  }
}

/**
 * A scope token is outside the RFC 6749 §3.3 grammar (printable ASCII, no space, `"` or `\`).
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidScopeToken extends Schema.TaggedError<InvalidScopeToken>(id("InvalidScopeToken"))(
  "InvalidScopeToken",
  { token: Schema.String }
) {
  /**
   * @since 0.1.0
   */
  override get message(): string {
    return `${JSON.stringify(this.token)} is not a valid scope: a scope is one or more printable ASCII characters ` +
      "other than space, double quote and backslash."
  }
}

/**
 * The session cannot be renewed (the refresh token was rejected and no newer token was stored):
 * the user has to sign in again.
 *
 * @since 0.1.0
 * @category errors
 */
export class ReauthorizationRequired
  extends Schema.TaggedError<ReauthorizationRequired>(id("ReauthorizationRequired"))("ReauthorizationRequired", {
    reason: Schema.Literal("NoToken", "RefreshRejected", "NoRefreshToken", "Revoked"),
    detail: Schema.String
  })
{
  /**
   * @since 0.1.0
   */
  override get message(): string {
    return `The user has to sign in again (${this.reason}): ${this.detail}`
  }
}

/**
 * The server did not accept the client's credentials (`invalid_client`): the client id or secret is
 * wrong, or the secret was reset. Fatal: retrying will not help.
 *
 * @since 0.1.0
 * @category errors
 */
export class ClientAuthenticationFailed
  extends Schema.TaggedError<ClientAuthenticationFailed>(id("ClientAuthenticationFailed"))(
    "ClientAuthenticationFailed",
    {
      status: Schema.Number,
      description: Schema.optional(Schema.String)
    }
  )
{
  /**
   * @since 0.1.0
   */
  override get message(): string {
    const description = this.description === undefined ? "" : ` (${this.description})`
    return `The authorization server rejected the client credentials (HTTP ${this.status})${description}. ` +
      "Check the client id and secret; a reset secret must be configured again."
  }
}

/**
 * The configuration cannot work: an `http:` endpoint without opt-in, a missing endpoint, bad
 * discovery metadata, and so on.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidConfiguration
  extends Schema.TaggedError<InvalidConfiguration>(id("InvalidConfiguration"))("InvalidConfiguration", {
    detail: Schema.String
  })
{
  /**
   * @since 0.1.0
   */
  override get message(): string {
    return `Invalid OAuth configuration: ${this.detail}`
  }
}

/**
 * A token store failed to read or write.
 *
 * @since 0.1.0
 * @category errors
 */
export class TokenStoreError extends Schema.TaggedError<TokenStoreError>(id("TokenStoreError"))("TokenStoreError", {
  operation: Schema.Literal("get", "set", "remove", "lock"),
  detail: Schema.String
}) {
  /**
   * @since 0.1.0
   */
  override get message(): string {
    return `The token store failed to ${this.operation}: ${this.detail}`
  }
}

/**
 * Every error of the library.
 *
 * @since 0.1.0
 * @category models
 */
export type OAuthError =
  | ErrorResponse
  | InvalidTokenResponse
  | TransportError
  | TransientServerError
  | RateLimited
  | AuthorizationResponseError
  | InsufficientScope
  | UntrustedOrigin
  | InvalidScopeRequest
  | InvalidScopeToken
  | ReauthorizationRequired
  | ClientAuthenticationFailed
  | InvalidConfiguration
  | TokenStoreError
  | InvalidIdToken

/**
 * The errors that can come out of one token request (an `InvalidIdToken` only when the provider
 * has the OpenID Connect extension).
 *
 * @since 0.1.0
 * @category models
 */
export type TokenRequestError =
  | ErrorResponse
  | InvalidTokenResponse
  | TransportError
  | TransientServerError
  | RateLimited
  | ClientAuthenticationFailed
  | InvalidConfiguration
  | InvalidIdToken

/**
 * Whether an error is worth retrying (with backoff): network failures, timeouts, 5xx, rate limits —
 * but not a failed authorization-code exchange, whose code is single use.
 *
 * @since 0.1.0
 * @category predicates
 */
export const isTransient = (error: unknown): boolean =>
  Predicate.isTagged(error, "TransientServerError") ||
  Predicate.isTagged(error, "RateLimited") ||
  (Predicate.isTagged(error, "TransportError") && (error as TransportError).reason !== "Deadline" &&
    (error as TransportError).retryable !== false)
