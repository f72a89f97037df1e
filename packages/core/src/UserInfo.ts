/**
 * The OpenID Connect UserInfo endpoint (OIDC Core §5.3): the signed-in user's claims, read with the
 * access token (as a Bearer token, or as a DPoP token with its proof). Its `sub` must be the ID
 * token's (§5.3.2): a response about anyone else is refused.
 *
 * @since 0.1.0
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import type { IdTokenError } from "./IdToken.js"
import { claims as idTokenClaims } from "./IdToken.js"
import * as OAuthErrorBase from "./internal/error.js"
import { checkEndpoint, readResponse } from "./internal/http.js"
import { ConfigurationError, TokenRequestError } from "./OAuthError.js"
import type { Provider } from "./Provider.js"
import type { Token } from "./Token.js"

/**
 * The standard claims of a UserInfo response (OIDC Core §5.1); extend it for more
 * (`Schema.Struct({ ...UserInfo.Claims.fields, locale: Schema.String })`).
 *
 * @since 0.1.0
 * @category schemas
 */
export const Claims = Schema.Struct({
  sub: Schema.String,
  name: Schema.optional(Schema.String),
  preferred_username: Schema.optional(Schema.String),
  email: Schema.optional(Schema.String),
  email_verified: Schema.optional(Schema.Boolean),
  picture: Schema.optional(Schema.String)
})

/**
 * @since 0.1.0
 * @category schemas
 */
export type Claims = typeof Claims.Type

/**
 * The UserInfo response cannot be used: the token has no ID token to compare it with
 * (`NoIdToken`), it names another user (`SubjectMismatch`), or it does not decode (`InvalidClaims`).
 *
 * @since 0.1.0
 * @category errors
 */
export class UserInfoError extends OAuthErrorBase.make<UserInfoError>()(
  "UserInfoError",
  {
    reason: Schema.Literal("NoIdToken", "SubjectMismatch", "InvalidClaims"),
    /** What the check found. */
    detail: Schema.String
  },
  (e) =>
    `The UserInfo response was refused (${e.reason}): ${e.detail}. ` +
    (e.reason === "NoIdToken"
      ? "Sign in with the openid scope so the token carries an ID token."
      : "Do not use it; sign in again, and check the provider's userinfo_endpoint if it keeps failing.")
) {}

/**
 * @since 0.1.0
 * @category models
 */
export type Error = UserInfoError | IdTokenError | TokenRequestError | ConfigurationError

/**
 * Reads the user's claims with `token` from the provider's `userinfo_endpoint`, decoded with
 * `schema` (default {@link Claims}), after checking that its `sub` is the ID token's.
 *
 * @since 0.1.0
 * @category accessors
 */
export const fetch: {
  (provider: Provider<string>, token: Token): Effect.Effect<Claims, Error, HttpClient.HttpClient>
  <A extends { readonly sub: string }, I>(
    provider: Provider<string>,
    token: Token,
    schema: Schema.Schema<A, I>
  ): Effect.Effect<A, Error, HttpClient.HttpClient>
} = <A extends { readonly sub: string }, I>(
  provider: Provider<string>,
  token: Token,
  schema?: Schema.Schema<A, I>
): Effect.Effect<A | Claims, Error, HttpClient.HttpClient> =>
  Effect.gen(function*() {
    if (provider.userinfoEndpoint === undefined) {
      return yield* new ConfigurationError({
        reason: "MissingEndpoint",
        detail: `${provider.name} has no userinfo_endpoint`
      })
    }
    const url = yield* checkEndpoint(provider.userinfoEndpoint, provider.allowInsecureHttp)
    const idClaims = yield* idTokenClaims(token)
    if (Option.isNone(idClaims)) {
      return yield* new UserInfoError({
        reason: "NoIdToken",
        detail: "the token has no ID token to compare sub with"
      })
    }
    const http = HttpClient.withTracerPropagation(yield* HttpClient.HttpClient, false)
    const dpop = provider.extensions?.dpop
    const request = HttpClientRequest.get(url).pipe(HttpClientRequest.acceptJson)
    const sent = token.tokenType === "Bearer"
      ? http.execute(HttpClientRequest.bearerToken(request, Redacted.value(token.accessToken)))
      : dpop === undefined
      ? Effect.fail(
        new ConfigurationError({
          reason: "MissingEndpoint",
          detail: "a DPoP token needs the provider's Dpop extension"
        })
      )
      : dpop.resourceRequest(request, token.accessToken, http.execute)
    const response = yield* Effect.mapError(sent, (error) =>
      error instanceof ConfigurationError
        ? error
        : new TokenRequestError({ reason: "Transport", kind: "Network", detail: "the UserInfo request failed" }))
    const body = yield* readResponse(provider, response, [Redacted.value(token.accessToken)])
    const decoded: Either.Either<A | Claims, unknown> =
      (schema === undefined ? Schema.decodeUnknownEither(Claims) : Schema.decodeUnknownEither(schema))(body)
    if (Either.isLeft(decoded)) {
      return yield* new UserInfoError({ reason: "InvalidClaims", detail: "the response does not match the schema" })
    }
    if (decoded.right.sub !== idClaims.value.sub) {
      return yield* new UserInfoError({
        reason: "SubjectMismatch",
        detail: "its sub is not the ID token's: it is about another user"
      })
    }
    return decoded.right
  }).pipe(
    Effect.scoped,
    Effect.timeoutFail({
      duration: Duration.seconds(30),
      onTimeout: () =>
        new TokenRequestError({ reason: "Transport", kind: "Timeout", detail: "no UserInfo answer within 30 seconds" })
    }),
    Effect.withSpan("UserInfo.fetch", { captureStackTrace: false, attributes: { "oauth.provider": provider.name } })
  )
