/**
 * The domain token: what a successful token response becomes once validated. Tokens are
 * `Redacted`, `expiresAt` is absolute (Effect's `Clock` when the successful request was sent, plus its lifetime),
 * and `version` counts the token's generation in its slot, so stores can refuse stale writes.
 *
 * @since 0.1.0
 */
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { noneByDefault } from "./internal/schema.js"
import { ScopeSetFromString } from "./Scopes.js"

/**
 * An access token with what came with it.
 *
 * @since 0.1.0
 * @category models
 */
export class Token extends Schema.Class<Token>("@effect-oauth/core/Token")({
  accessToken: Schema.Redacted(Schema.String),
  /** `DPoP` for a token bound to a DPoP key (RFC 9449): it is only ever sent with a proof of that key. */
  tokenType: Schema.Literal("Bearer", "DPoP"),
  refreshToken: Schema.OptionFromNullOr(Schema.Redacted(Schema.String)),
  /** Epoch milliseconds; `None` when the server gave no lifetime and the provider has no default. */
  expiresAt: Schema.OptionFromNullOr(Schema.Number),
  /** Epoch milliseconds, from the Clock, when the successful request was sent (its lifetime counts from then). */
  issuedAt: Schema.Number,
  /** The granted scopes (the server's `scope`, else the requested ones). */
  scopes: ScopeSetFromString,
  /** The token's generation in its slot: 0 for a fresh token, one more for each replacement. */
  version: Schema.Number,
  /**
   * The OpenID Connect ID token that came with it, already validated (see `IdToken`); `None` when
   * the provider has no OpenID Connect extension or sent none.
   */
  idToken: Schema.optionalWith(Schema.OptionFromNullOr(Schema.Redacted(Schema.String)), noneByDefault)
}) {}

/**
 * Whether the token is expired at `now` (epoch milliseconds), counting `skewMillis` early.
 *
 * @since 0.1.0
 * @category predicates
 */
export const isExpired = (token: Token, now: number, skewMillis = 0): boolean =>
  Option.match(token.expiresAt, { onNone: () => false, onSome: (expiresAt) => now >= expiresAt - skewMillis })

/**
 * The token's lifetime in milliseconds as the server stated it, if it did.
 *
 * @since 0.1.0
 * @category getters
 */
export const lifetimeMillis = (token: Token): Option.Option<number> =>
  Option.map(token.expiresAt, (expiresAt) => expiresAt - token.issuedAt)
