/**
 * Token introspection (RFC 7662): asks the provider's `introspection_endpoint` whether a token is
 * active and what it grants, with the client's own authentication (the token endpoint's, signed
 * assertions included). A resource server uses it for opaque tokens; a client, to check a token
 * it holds.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { postForm } from "./internal/endpoint.js"
import { ConfigurationError, TokenRequestError } from "./OAuthError.js"
import type { ScopeSet } from "./Scopes.js"
import { empty, parse } from "./Scopes.js"
import type { TokenEndpoint } from "./TokenEndpoint.js"

/**
 * An introspection response on the wire (RFC 7662 §2.2); unknown members are ignored.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Response = Schema.Struct({
  active: Schema.Boolean,
  scope: Schema.optional(Schema.String),
  client_id: Schema.optional(Schema.String),
  username: Schema.optional(Schema.String),
  token_type: Schema.optional(Schema.String),
  exp: Schema.optional(Schema.Number),
  iat: Schema.optional(Schema.Number),
  nbf: Schema.optional(Schema.Number),
  sub: Schema.optional(Schema.String),
  aud: Schema.optional(Schema.Union(Schema.String, Schema.Array(Schema.String))),
  iss: Schema.optional(Schema.String),
  jti: Schema.optional(Schema.String)
})

/**
 * @since 0.1.0
 * @category schemas
 */
export type Response = typeof Response.Type

/**
 * What the provider said of a token. An inactive token carries nothing else (§2.2: the server
 * tells nothing more of a token that is not active).
 *
 * @since 0.1.0
 * @category models
 */
export type Introspection =
  | { readonly active: false }
  | {
    readonly active: true
    readonly scopes: ScopeSet<string>
    /** Epoch milliseconds. */
    readonly expiresAt: Option.Option<number>
    readonly clientId: Option.Option<string>
    readonly subject: Option.Option<string>
    readonly response: Response
  }

const invalid = (field: string, detail: string) =>
  new TokenRequestError({ reason: "InvalidResponse", kind: "InvalidField", status: 200, field, detail })

/**
 * Introspects `token` at the provider's `introspection_endpoint` (or `options.endpoint`).
 *
 * @since 0.1.0
 * @category accessors
 */
export const introspect = (
  endpoint: TokenEndpoint,
  token: Redacted.Redacted<string>,
  options: {
    readonly hint?: "access_token" | "refresh_token" | undefined
    readonly endpoint?: string | undefined
  } = {}
): Effect.Effect<Introspection, TokenRequestError | ConfigurationError> =>
  Effect.gen(function*() {
    const url = options.endpoint ?? endpoint.provider.introspectionEndpoint
    if (url === undefined) {
      return yield* new ConfigurationError({
        reason: "MissingEndpoint",
        detail: `${endpoint.provider.name} has no introspection_endpoint`
      })
    }
    const body = yield* postForm(endpoint, url, [
      ["token", Redacted.value(token)],
      ...(options.hint === undefined ? [] : [["token_type_hint", options.hint] as const])
    ])
    const decoded = Schema.decodeUnknownEither(Response)(body)
    if (Either.isLeft(decoded)) {
      return yield* invalid("active", "an introspection response needs a boolean active and well-typed members")
    }
    const response = decoded.right
    if (!response.active) return { active: false } as const
    const scopes = response.scope === undefined ? Either.right(empty) : parse(response.scope)
    if (Either.isLeft(scopes)) return yield* invalid("scope", "scope is not a space-delimited list of scopes")
    return {
      active: true,
      scopes: scopes.right,
      expiresAt: Option.map(Option.fromNullable(response.exp), (exp) => exp * 1000),
      clientId: Option.fromNullable(response.client_id),
      subject: Option.fromNullable(response.sub),
      response
    } as const
  }).pipe(Effect.withSpan("Introspection.introspect", {
    captureStackTrace: false,
    attributes: { "oauth.provider": endpoint.provider.name }
  }))
