/**
 * The authorization-code grant with PKCE, on the client's side: `start` builds the URL to send the
 * user to and the transaction to keep; `complete` checks the callback (state, `iss`, errors,
 * duplicates, tokens in the URL) before anything is sent, and exchanges the code with the stored
 * verifier and redirect URI. `PendingLogins` keeps transactions by state, each usable once.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Ref from "effect/Ref"
import * as Schema from "effect/Schema"
import type { ClientConfig } from "./ClientConfig.js"
import * as Grant from "./Grant.js"
import type { InvalidScopeRequest, TokenRequestError } from "./OAuthError.js"
import { AuthorizationResponseError, InvalidConfiguration } from "./OAuthError.js"
import * as Pkce from "./Pkce.js"
import type { Provider } from "./Provider.js"
import { validate } from "./ScopeRules.js"
import type { ScopeSet } from "./Scopes.js"
import { empty, format, ScopeSetFromString } from "./Scopes.js"
import type { Token } from "./Token.js"
import type { TokenEndpoint } from "./TokenEndpoint.js"
import { checkEndpoint } from "./TokenEndpoint.js"

/**
 * A login in progress: what the callback is checked against, and what the exchange needs. It is a
 * schema class so platforms can keep it in `sessionStorage` or a file.
 *
 * @since 0.1.0
 * @category models
 */
export class Transaction extends Schema.Class<Transaction>("@effect-oauth/core/Authorization/Transaction")({
  state: Schema.Redacted(Schema.String),
  codeVerifier: Schema.Redacted(Schema.String),
  redirectUri: Schema.String,
  provider: Schema.String,
  issuer: Schema.OptionFromNullOr(Schema.String),
  clientId: Schema.String,
  scopes: ScopeSetFromString,
  createdAt: Schema.Number
}) {}

/**
 * @since 0.1.0
 * @category models
 */
export interface StartOptions {
  readonly provider: Provider<string>
  readonly client: ClientConfig
  readonly redirectUri: string
  readonly scopes?: ScopeSet<string> | undefined
  readonly extraParams?: Readonly<Record<string, string>> | undefined
}

/**
 * Builds the authorization URL (always with `code_challenge_method=S256`) and its transaction.
 *
 * @since 0.1.0
 * @category constructors
 */
export const start = (
  options: StartOptions
): Effect.Effect<
  { readonly url: string; readonly transaction: Transaction },
  InvalidConfiguration | InvalidScopeRequest
> =>
  Effect.gen(function*() {
    const { client, provider } = options
    if (Option.isNone(provider.authorizationEndpoint)) {
      return yield* new InvalidConfiguration({ detail: `${provider.name} has no authorization endpoint` })
    }
    const endpoint = yield* checkEndpoint(provider.authorizationEndpoint.value, provider.allowInsecureHttp)
    const scopes = yield* validate(provider.scopeRules, "AuthorizationCode", options.scopes ?? empty)
    const state = yield* Pkce.randomString(32)
    const pkce = yield* Pkce.make
    const url = new URL(endpoint)
    for (const [key, value] of Object.entries(options.extraParams ?? {})) url.searchParams.set(key, value)
    url.searchParams.set("response_type", "code")
    url.searchParams.set("client_id", client.clientId)
    url.searchParams.set("redirect_uri", options.redirectUri)
    // The request names the scopes asked for; the implied ones are the server's to add.
    const requested = options.scopes ?? empty
    if (requested.size > 0) url.searchParams.set("scope", format(requested))
    url.searchParams.set("state", state)
    url.searchParams.set("code_challenge", pkce.challenge)
    url.searchParams.set("code_challenge_method", "S256")
    const transaction = new Transaction({
      state: Redacted.make(state),
      codeVerifier: pkce.verifier,
      redirectUri: options.redirectUri,
      provider: provider.name,
      issuer: provider.issuer,
      clientId: client.clientId,
      scopes,
      createdAt: yield* Clock.currentTimeMillis
    })
    return { url: url.toString(), transaction }
  })

/**
 * The parameters of a callback, each appearing once.
 *
 * @since 0.1.0
 * @category models
 */
export type CallbackParams = ReadonlyMap<string, string>

const tokenParams = ["access_token", "id_token", "token", "refresh_token"]

/**
 * Reads a callback URL's query (and fragment); a repeated parameter, or a token in the URL, is
 * refused.
 *
 * @since 0.1.0
 * @category parsing
 */
export const parseCallback = (callbackUrl: string | URL): Effect.Effect<CallbackParams, AuthorizationResponseError> =>
  Effect.gen(function*() {
    let url: URL
    try {
      url = new URL(callbackUrl)
    } catch {
      return yield* new AuthorizationResponseError({ reason: "InvalidCallback", description: "not a URL" })
    }
    const fragment = new URLSearchParams(url.hash.startsWith("#") ? url.hash.slice(1) : url.hash)
    for (const name of tokenParams) {
      if (url.searchParams.has(name) || fragment.has(name)) {
        return yield* new AuthorizationResponseError({ reason: "TokenInCallback" })
      }
    }
    const params = new Map<string, string>()
    for (const [name, value] of url.searchParams) {
      if (params.has(name)) {
        return yield* new AuthorizationResponseError({ reason: "DuplicateParameter", description: name })
      }
      params.set(name, value)
    }
    return params
  })

// The callback's parameters and its state, which every check starts from.
const readCallback = (callbackUrl: string | URL) =>
  Effect.flatMap(parseCallback(callbackUrl), (params) => {
    const state = params.get("state")
    return state === undefined
      ? Effect.fail(new AuthorizationResponseError({ reason: "MissingState" }))
      : Effect.succeed({ params, state })
  })

// Compares in time independent of where the strings differ.
const constantTimeEquals = (a: string, b: string): boolean => {
  let difference = a.length ^ b.length
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    difference |= (a.charCodeAt(i) | 0) ^ (b.charCodeAt(i) | 0)
  }
  return difference === 0
}

/**
 * Checks a callback against its transaction, in order: state, `iss` (RFC 9207), the server's
 * error, the code; only then the code is exchanged (with the stored verifier and redirect URI).
 *
 * @since 0.1.0
 * @category exchange
 */
export const complete = (
  endpoint: TokenEndpoint,
  transaction: Transaction,
  callbackUrl: string | URL
): Effect.Effect<Token, AuthorizationResponseError | TokenRequestError> =>
  Effect.gen(function*() {
    const { params, state } = yield* readCallback(callbackUrl)
    if (!constantTimeEquals(state, Redacted.value(transaction.state))) {
      return yield* new AuthorizationResponseError({ reason: "StateMismatch" })
    }
    return yield* exchange(endpoint, transaction, params)
  }).pipe(Effect.withSpan("Authorization.complete", { attributes: { "oauth.provider": transaction.provider } }))

const exchange = (endpoint: TokenEndpoint, transaction: Transaction, params: CallbackParams) =>
  Effect.gen(function*() {
    const provider = endpoint.provider
    const iss = params.get("iss")
    if (iss !== undefined || provider.authorizationResponseIssParameterSupported) {
      if (iss === undefined || Option.isNone(provider.issuer) || iss !== provider.issuer.value) {
        return yield* new AuthorizationResponseError({ reason: "IssuerMismatch" })
      }
    }
    const error = params.get("error")
    if (error !== undefined) {
      const description = params.get("error_description")
      return yield* new AuthorizationResponseError({
        reason: "Denied",
        error,
        ...(description === undefined ? {} : { description })
      })
    }
    const code = params.get("code")
    if (code === undefined || code.length === 0) {
      return yield* new AuthorizationResponseError({ reason: "MissingCode" })
    }
    return yield* endpoint.request(
      Grant.AuthorizationCode({
        code: Redacted.make(code),
        codeVerifier: transaction.codeVerifier,
        redirectUri: transaction.redirectUri
      }),
      { requested: transaction.scopes }
    )
  })

/**
 * Logins in progress, by state. Each transaction can be taken once, and expires after a time to
 * live.
 *
 * @since 0.1.0
 * @category models
 */
export interface PendingLogins {
  readonly register: (transaction: Transaction) => Effect.Effect<void>
  /** Removes and returns the transaction of `state`; `None` if unknown, used or expired. */
  readonly take: (state: string) => Effect.Effect<Option.Option<Transaction>>
}

/**
 * An in-memory registry of logins in progress (default time to live: 10 minutes).
 *
 * @since 0.1.0
 * @category constructors
 */
export const makePendingLogins = (
  options: { readonly timeToLive?: Duration.DurationInput | undefined } = {}
): Effect.Effect<PendingLogins> =>
  Effect.map(Ref.make(new Map<string, Transaction>()), (ref) => {
    const ttl = Duration.toMillis(options.timeToLive ?? Duration.minutes(10))
    return {
      register: (transaction) =>
        Ref.update(ref, (map) => new Map(map).set(Redacted.value(transaction.state), transaction)),
      take: (state) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) =>
          Ref.modify(ref, (map) => {
            const next = new Map(map)
            for (const [key, transaction] of map) if (now - transaction.createdAt > ttl) next.delete(key)
            const found = Option.fromNullable(next.get(state))
            next.delete(state)
            return [found, next]
          }))
    }
  })

/**
 * Completes a callback whose transaction is among the pending logins: the transaction is consumed
 * on first use (a replayed callback finds none), and must belong to the endpoint's provider and
 * client.
 *
 * @since 0.1.0
 * @category exchange
 */
export const completeWith = (
  pending: PendingLogins,
  endpoint: TokenEndpoint,
  callbackUrl: string | URL
): Effect.Effect<Token, AuthorizationResponseError | TokenRequestError> =>
  Effect.gen(function*() {
    const { params, state } = yield* readCallback(callbackUrl)
    const transaction = yield* pending.take(state)
    if (Option.isNone(transaction)) return yield* new AuthorizationResponseError({ reason: "StateMismatch" })
    const provider = endpoint.provider
    if (
      transaction.value.provider !== provider.name || transaction.value.clientId !== endpoint.client.clientId ||
      !Option.getEquivalence((a: string, b: string) => a === b)(transaction.value.issuer, provider.issuer)
    ) {
      return yield* new AuthorizationResponseError({ reason: "WrongProvider" })
    }
    return yield* exchange(endpoint, transaction.value, params)
  })
