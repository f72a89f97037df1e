/**
 * The token endpoint's successful response on the wire (RFC 6749 §5.1), and its validation into a
 * domain `Token`. Every check of a token response lives here, once.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { InvalidTokenResponse } from "./OAuthError.js"
import type { Provider } from "./Provider.js"
import type { ScopeSet } from "./Scopes.js"
import { empty, parse } from "./Scopes.js"
import { Token } from "./Token.js"

/**
 * What the token response needs besides its body.
 *
 * @since 0.1.0
 * @category models
 */
export interface Context {
  readonly provider: Provider<string>
  readonly status: number
  /** Epoch milliseconds when the response arrived. */
  readonly now: number
  readonly requested?: ScopeSet<string> | undefined
  readonly previous?: Token | undefined
}

const invalid = (status: number, field: string, detail: string) =>
  Either.left(new InvalidTokenResponse({ reason: "InvalidField", status, field, detail }))

/**
 * Reads `expires_in`: a non-negative finite number, or a string of digits. `None` when absent.
 *
 * @since 0.1.0
 * @category parsing
 */
export const parseExpiresIn = (value: unknown): Either.Either<Option.Option<number>, string> => {
  if (value === undefined || value === null) return Either.right(Option.none())
  if (typeof value === "number") {
    return Number.isFinite(value) && value >= 0
      ? Either.right(Option.some(value))
      : Either.left("expires_in must be a non-negative finite number")
  }
  if (typeof value === "string" && /^\d+$/.test(value)) return Either.right(Option.some(Number(value)))
  return Either.left("expires_in must be a number of seconds")
}

/**
 * Validates a parsed JSON body of a 2xx token response into a `Token` (BEHAVIOUR.md §2).
 *
 * @since 0.1.0
 * @category parsing
 */
export const toToken = (
  body: Readonly<Record<string, unknown>>,
  context: Context
): Either.Either<Token, InvalidTokenResponse> => {
  const { now, previous, provider, requested, status } = context
  const accessToken = body.access_token
  if (typeof accessToken !== "string" || accessToken.length === 0) {
    return invalid(status, "access_token", "access_token is missing, empty or not a string")
  }
  const tokenType = body.token_type
  if (typeof tokenType !== "string" || tokenType.toLowerCase() !== "bearer") {
    return invalid(status, "token_type", "token_type must be Bearer (other token types are not supported)")
  }
  const expiresIn = parseExpiresIn(body.expires_in)
  if (Either.isLeft(expiresIn)) return invalid(status, "expires_in", expiresIn.left)
  let refreshToken: Option.Option<Redacted.Redacted<string>>
  if (!("refresh_token" in body) || body.refresh_token === undefined) {
    refreshToken = previous === undefined ? Option.none() : previous.refreshToken
  } else if (typeof body.refresh_token === "string" && body.refresh_token.length > 0) {
    refreshToken = Option.some(Redacted.make(body.refresh_token))
  } else {
    return invalid(status, "refresh_token", "refresh_token must be a non-empty string when present")
  }
  let scopes: ScopeSet<string> = requested ?? previous?.scopes ?? empty
  if (body.scope !== undefined && body.scope !== null) {
    if (typeof body.scope !== "string") return invalid(status, "scope", "scope must be a space-delimited string")
    const parsed = parse(body.scope)
    if (Either.isLeft(parsed)) return invalid(status, "scope", parsed.left.message)
    scopes = parsed.right
  }
  const lifetimeMillis = Option.orElse(
    Option.map(expiresIn.right, (seconds) => seconds * 1000),
    () => Option.map(provider.defaultTokenLifetime, Duration.toMillis)
  )
  return Either.right(
    new Token({
      accessToken: Redacted.make(accessToken),
      tokenType: "Bearer",
      refreshToken,
      // Clamp absurd lifetimes so that date arithmetic stays finite.
      expiresAt: Option.map(lifetimeMillis, (millis) => now + Math.min(millis, 100 * 365 * 86_400_000)),
      issuedAt: now,
      scopes,
      version: previous === undefined ? 0 : previous.version + 1
    })
  )
}
