/**
 * The osu! API v2 (osu-web, Laravel Passport): endpoints, scopes as literal types, the scope rules
 * of its documentation as data (delegation included), its error shapes, its lifetime and rate
 * limit.
 *
 * @since 0.1.0
 * @module
 */
import * as Duration from "effect/Duration"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { ErrorCode } from "../OAuthError.js"
import type { ErrorBody } from "../Provider.js"
import * as Provider from "../Provider.js"
import * as RateLimit from "../RateLimit.js"
import type { ScopeRules } from "../ScopeRules.js"
import { allGrants, exclusive, forbidden, onlyForGrants, onlyWithin, requiresWhenAny } from "../ScopeRules.js"

/**
 * Every osu! scope.
 *
 * @since 0.1.0
 * @category constants
 */
export const scopes = [
  "public",
  "identify",
  "friends.read",
  "forum.write",
  "forum.write_manage",
  "chat.read",
  "chat.write",
  "chat.write_manage",
  "delegate",
  "group_permissions",
  "multiplayer.write_manage",
  "*"
] as const

/**
 * @since 0.1.0
 * @category models
 */
export type OsuScope = typeof scopes[number]

/**
 * The scopes a client-credentials token may carry when it acts for the client's owner (a bot).
 *
 * @since 0.1.0
 * @category constants
 */
export const delegableScopes = [
  "chat.write",
  "chat.write_manage",
  "delegate",
  "forum.write",
  "forum.write_manage",
  "group_permissions",
  "multiplayer.write_manage"
] as const

/**
 * The scopes only a client-credentials token may carry.
 *
 * @since 0.1.0
 * @category constants
 */
export const clientCredentialsOnlyScopes = ["delegate", "forum.write_manage", "group_permissions"] as const

/**
 * osu!'s scope rules (BEHAVIOUR.md §7, and osu-web's `Token::validate`), as data. Declared
 * `as const` so the scope and rule names keep their literal types.
 *
 * @since 0.1.0
 * @category constants
 */
export const rules = {
  known: scopes,
  grants: {
    // osu! grants `identify` with every authorization-code token, and asks for it when nothing is named.
    AuthorizationCode: { defaults: ["identify"], implied: ["identify"] },
    // No default: a client-credentials request names `public`, or the delegation scopes.
    ClientCredentials: { explicit: true }
  },
  constraints: [
    exclusive({ name: "osu.star-alone", grants: allGrants, scopes: ["*"] }),
    forbidden({ name: "osu.client-credentials-no-star", grants: ["ClientCredentials"], scopes: ["*"] }),
    onlyForGrants({
      name: "osu.client-credentials-only",
      scopes: clientCredentialsOnlyScopes,
      grants: ["ClientCredentials"]
    }),
    requiresWhenAny({
      name: "osu.delegation-requires-delegate",
      grants: ["ClientCredentials"],
      trigger: delegableScopes,
      required: "delegate"
    }),
    onlyWithin({
      name: "osu.delegation-only-delegable",
      grants: ["ClientCredentials"],
      trigger: delegableScopes,
      allowed: delegableScopes
    })
  ]
} as const satisfies ScopeRules<OsuScope>

const isRfcCode = Schema.is(ErrorCode)

const text = (value: unknown): string | undefined => typeof value === "string" ? value : undefined

/**
 * Reads osu!'s error shapes: a refused refresh token is a 401 `invalid_request` ("The refresh token
 * is invalid."), which means `invalid_grant`; a scope-rule violation is a 400 whose `error` is a
 * sentence, which means `invalid_scope`.
 *
 * @since 0.1.0
 * @category errors
 */
export const classifyError = (
  status: number,
  body: Readonly<Record<string, unknown>>
): Option.Option<ErrorBody> => {
  const error = text(body.error)
  const description = text(body.error_description) ?? text(body.message) ?? text(body.hint)
  if (error === "invalid_request" && description !== undefined && /refresh token is invalid/i.test(description)) {
    return Option.some({ error: "invalid_grant", description })
  }
  if (status === 400 && error !== undefined && !isRfcCode(error)) {
    return Option.some({ error: "invalid_scope", description: error })
  }
  return Option.none()
}

/**
 * osu!'s own revocation of the token in use (`DELETE` with the token as bearer); osu! has no
 * RFC 7009 endpoint.
 *
 * @since 0.1.0
 * @category constants
 */
export const currentTokenRevocationUrl = "https://osu.ppy.sh/api/v2/oauth/tokens/current"

/**
 * osu! checks the redirect URI exactly, port included: a loopback login must listen on the port
 * registered with the application.
 *
 * @since 0.1.0
 * @category constants
 */
export const requiresRegisteredRedirectPort = true

/**
 * The type of the osu! provider, its identity in `Granted`: `Granted.Granted<Osu.Osu, "…">`
 * is a need only a client of this provider satisfies (a preset made with other endpoints, by
 * {@link make}, has the same type).
 *
 * @since 0.1.0
 * @category models
 */
export type Osu = Provider.Provider<OsuScope, typeof rules>

/**
 * What a test or a proxy may change in the preset.
 *
 * @since 0.1.0
 * @category models
 */
export type MakeOptions = Provider.Overrides

/**
 * The osu! provider, with {@link MakeOptions} applied (a test server's endpoints, say).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (overrides?: MakeOptions) => Osu = Provider.preset<
  OsuScope,
  typeof rules
>({
  name: "osu",
  // No `iss` is sent today; with the issuer known, one sent later is checked, not refused (RFC 9207).
  issuer: "https://osu.ppy.sh",
  authorizationEndpoint: "https://osu.ppy.sh/oauth/authorize",
  tokenEndpoint: "https://osu.ppy.sh/oauth/token",
  apiBaseUrl: "https://osu.ppy.sh/api/v2",
  clientAuthentication: "client_secret_post",
  defaultTokenLifetime: Duration.seconds(86400),
  rateLimit: RateLimit.rule({ limit: 60, interval: Duration.minutes(1) }),
  classifyError,
  scopeRules: rules
})

/**
 * The osu! provider at osu.ppy.sh.
 *
 * @since 0.1.0
 * @category constructors
 */
export const provider: Osu = make()
