/**
 * The token endpoint's successful response on the wire (RFC 6749 §5.1), and its validation into a
 * domain `Token`. Every check of a token response lives here, once.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { TokenRequestError } from "./OAuthError.js"
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
  Either.left(new TokenRequestError({ reason: "InvalidResponse", kind: "InvalidField", status, field, detail }))

const DigitString = Schema.String.pipe(Schema.pattern(/^\d+$/))

/**
 * `expires_in` on the wire: a non-negative finite number of seconds, or the same as a string of
 * digits (some servers quote it).
 *
 * @since 0.1.0
 * @category schemas
 */
export const ExpiresIn: Schema.Schema<number, number | string> = Schema.Union(
  Schema.Number.pipe(Schema.finite(), Schema.nonNegative()),
  // A string of hundreds of digits reads as Infinity: the decoded number is checked as well.
  Schema.transform(DigitString, Schema.Number.pipe(Schema.finite()), { strict: true, decode: Number, encode: String })
)

/**
 * A successful token response on the wire (RFC 6749 §5.1). Unknown members are ignored; `null`
 * stands for absent in `expires_in` and `scope`, but a `refresh_token` that is present must be a
 * non-empty string.
 *
 * @since 0.1.0
 * @category schemas
 */
export const TokenResponse = Schema.Struct({
  access_token: Schema.NonEmptyString,
  token_type: Schema.String.pipe(Schema.filter((type) => /^(bearer|dpop)$/i.test(type))),
  expires_in: Schema.optionalWith(ExpiresIn, { nullable: true }),
  refresh_token: Schema.optional(Schema.NonEmptyString),
  scope: Schema.optionalWith(Schema.String, { nullable: true })
})

/**
 * @since 0.1.0
 * @category models
 */
export type TokenResponse = typeof TokenResponse.Type

// The schema's own messages quote the offending value, which could be a credential: each field
// gets a fixed description instead.
const fieldDetails: Record<string, string> = {
  access_token: "access_token is missing, empty or not a string",
  token_type: "token_type must be Bearer (or DPoP when the request carried a DPoP proof)",
  expires_in: "expires_in must be a non-negative finite number of seconds, or a string of digits",
  refresh_token: "refresh_token must be a non-empty string when present",
  scope: "scope must be a space-delimited string of scope tokens"
}

const decode = Schema.decodeUnknownEither(TokenResponse)

/**
 * Reads `expires_in`: a non-negative finite number, or a string of digits. `None` when absent.
 *
 * @since 0.1.0
 * @category parsing
 */
export const parseExpiresIn = (value: unknown): Either.Either<Option.Option<number>, string> =>
  value === undefined || value === null
    ? Either.right(Option.none())
    : Either.match(Schema.decodeUnknownEither(ExpiresIn)(value), {
      onLeft: () => Either.left(fieldDetails.expires_in),
      onRight: (seconds) => Either.right(Option.some(seconds))
    })

/**
 * Validates a parsed JSON body of a 2xx token response into a `Token` (BEHAVIOUR.md §2).
 *
 * @since 0.1.0
 * @category parsing
 */
export const toToken = (
  body: Readonly<Record<string, unknown>>,
  context: Context
): Either.Either<Token, TokenRequestError> => {
  const { now, previous, provider, requested, status } = context
  const decoded = decode(body)
  if (Either.isLeft(decoded)) {
    const field = String(ParseResult.ArrayFormatter.formatErrorSync(decoded.left)[0]?.path[0] ?? "body")
    return invalid(status, field, fieldDetails[field] ?? `${field} is malformed`)
  }
  const response = decoded.right
  const dpop = response.token_type.toLowerCase() === "dpop"
  // Only a request that carried a DPoP proof (the provider has `Dpop.bind`) may get a DPoP token.
  if (dpop && !provider.extensions?.dpop) return invalid(status, "token_type", fieldDetails.token_type)
  const refreshToken = response.refresh_token === undefined
    ? previous === undefined ? Option.none() : previous.refreshToken
    : Option.some(Redacted.make(response.refresh_token))
  let scopes: ScopeSet<string> = requested ?? previous?.scopes ?? empty
  if (response.scope !== undefined) {
    const parsed = parse(response.scope)
    if (Either.isLeft(parsed)) return invalid(status, "scope", fieldDetails.scope)
    scopes = parsed.right
  }
  const lifetimeMillis = Option.orElse(
    Option.map(Option.fromNullable(response.expires_in), (seconds) => seconds * 1000),
    () => Option.map(provider.defaultTokenLifetime, Duration.toMillis)
  )
  return Either.right(
    new Token({
      accessToken: Redacted.make(response.access_token),
      tokenType: dpop ? "DPoP" : "Bearer",
      refreshToken,
      // Clamp absurd lifetimes so that date arithmetic stays finite.
      expiresAt: Option.map(lifetimeMillis, (millis) => now + Math.min(millis, 100 * 365 * 86_400_000)),
      issuedAt: now,
      scopes,
      version: previous === undefined ? 0 : previous.version + 1
    })
  )
}
