/**
 * The authorization-code grant with PKCE, on the client's side: `start` builds the URL to send the
 * user to and the transaction to keep; `complete` checks the callback (state, provider, `iss`,
 * errors, duplicates, tokens in the URL) before anything is sent, and exchanges the code with the
 * stored verifier and redirect URI. A transaction is spent by its first callback, so a replay never
 * reaches the server. `PendingLogins` keeps transactions by state, for `completeWith`.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Ref from "effect/Ref"
import * as Schema from "effect/Schema"
import type { ClientConfig } from "./ClientConfig.js"
import * as Grant from "./Grant.js"
import type { IdTokenError } from "./IdToken.js"
import { randomString } from "./internal/crypto.js"
import { postForm } from "./internal/endpoint.js"
import { checkEndpoint } from "./internal/http.js"
import type { ScopeError, TokenRequestError } from "./OAuthError.js"
import { AuthorizationError, ConfigurationError } from "./OAuthError.js"
import * as Pkce from "./Pkce.js"
import type { Provider } from "./Provider.js"
import { validate } from "./ScopeRules.js"
import type { ScopeSet } from "./Scopes.js"
import { empty, format, fromIterable, ScopeSetFromString } from "./Scopes.js"
import type { Token } from "./Token.js"
import type { TokenEndpoint } from "./TokenEndpoint.js"

/**
 * A login in progress: what the callback is checked against, and what the exchange needs. It is a
 * schema class so platforms can keep it in `sessionStorage` or a file (encoded, the state,
 * verifier and nonce are plain strings: keep the encoded form somewhere only this client can read).
 *
 * @since 0.1.0
 * @category models
 */
export class Transaction extends Schema.Class<Transaction>("@effect-oauth/core/Authorization/Transaction")({
  state: Schema.Redacted(Schema.String),
  codeVerifier: Schema.Redacted(Schema.String),
  /** The redirect URI sent in the authorization request; the exchange sends this one again. */
  redirectUri: Schema.String,
  /** The provider's name, and its issuer when it has one. */
  provider: Schema.String,
  issuer: Schema.OptionFromNullOr(Schema.String),
  clientId: Schema.String,
  /** The effective scopes of the request (with the provider's defaults and implied scopes). */
  scopes: ScopeSetFromString,
  /** Epoch milliseconds, from the `Clock`. */
  createdAt: Schema.Number,
  /** The OpenID Connect nonce sent with the login (`IdToken.openId`), checked in its ID token. */
  nonce: Schema.optionalWith(Schema.Redacted(Schema.String), { as: "Option", nullable: true })
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
  /** More query parameters (`prompt`, `show_dialog`, …); they cannot replace the protocol's own. */
  readonly extraParams?: Readonly<Record<string, string>> | undefined
  /**
   * The client's token endpoint, whose client authentication pushes the request when the provider
   * has {@link pushed} (RFC 9126); a pushed login fails without it.
   */
  readonly endpoint?: TokenEndpoint | undefined
}

/**
 * The URL to send the user to, and the transaction to keep until the callback.
 *
 * @since 0.1.0
 * @category models
 */
export interface Started {
  readonly url: string
  readonly transaction: Transaction
}

const checkRedirectUri = (redirectUri: string): Either.Either<string, ConfigurationError> => {
  let parsed: URL
  try {
    parsed = new URL(redirectUri)
  } catch {
    return Either.left(
      new ConfigurationError({ reason: "InvalidUrl", detail: `the redirect URI ${redirectUri} is not an absolute URI` })
    )
  }
  // RFC 6749 §3.1.2: the redirection endpoint URI must not include a fragment.
  return parsed.hash === "" && !redirectUri.includes("#")
    ? Either.right(redirectUri)
    : Either.left(
      new ConfigurationError({
        reason: "InvalidUrl",
        detail: "the redirect URI has a fragment: remove it (RFC 6749 §3.1.2)"
      })
    )
}

/**
 * Builds the authorization URL and its transaction. The URL carries `response_type=code`,
 * `client_id`, `redirect_uri`, `scope` (the request, or the provider's defaults; left out when
 * empty), a 256-bit `state`, the S256 `code_challenge`, and always `code_challenge_method=S256`.
 * Scopes are checked against the provider's rules first; a provider without an authorization
 * endpoint, or with an `http:` one that is not loopback (without `allowInsecureHttp`), is refused.
 *
 * @since 0.1.0
 * @category constructors
 */
export const start = (
  options: StartOptions
): Effect.Effect<Started, ConfigurationError | ScopeError> =>
  Effect.gen(function*() {
    const { client, provider } = options
    const requested = options.scopes ?? empty
    const scopes = yield* validate(provider.scopeRules, "AuthorizationCode", requested)
    if (Option.isNone(provider.authorizationEndpoint)) {
      return yield* new ConfigurationError({
        reason: "MissingEndpoint",
        detail: `${provider.name} has no authorization endpoint`
      })
    }
    const endpoint = yield* checkEndpoint(provider.authorizationEndpoint.value, provider.allowInsecureHttp)
    const redirectUri = yield* checkRedirectUri(options.redirectUri)
    const state = yield* randomString(32)
    const pkce = yield* Pkce.make
    const url = new URL(endpoint)
    for (const [key, value] of Object.entries(options.extraParams ?? {})) url.searchParams.set(key, value)
    url.searchParams.set("response_type", "code")
    url.searchParams.set("client_id", client.clientId)
    url.searchParams.set("redirect_uri", redirectUri)
    // The request names what was asked for (or the grant's defaults); implied scopes are the server's to add.
    const asked = requested.size > 0
      ? requested
      : Either.getOrElse(fromIterable(provider.scopeRules.grants.AuthorizationCode?.defaults ?? []), () => empty)
    if (asked.size > 0) url.searchParams.set("scope", format(asked))
    else url.searchParams.delete("scope")
    url.searchParams.set("state", state)
    url.searchParams.set("code_challenge", pkce.challenge)
    url.searchParams.set("code_challenge_method", pkce.method)
    const { openId, pushedAuthorization } = provider.extensions ?? {}
    const login = openId ? yield* openId.login : undefined
    for (const [key, value] of login?.params ?? []) url.searchParams.set(key, value)
    const transaction = new Transaction({
      state: Redacted.make(state),
      codeVerifier: pkce.verifier,
      redirectUri,
      provider: provider.name,
      issuer: provider.issuer,
      clientId: client.clientId,
      scopes,
      createdAt: yield* Clock.currentTimeMillis,
      nonce: Option.fromNullable(login?.nonce)
    })
    return {
      url: pushedAuthorization ? yield* pushedAuthorization.push(provider, options.endpoint, url) : url.toString(),
      transaction
    }
  })

/**
 * Pushed authorization requests (RFC 9126), as a provider extension (see `Provider.Extensions`),
 * built by {@link pushed}.
 *
 * @since 0.1.0
 * @category models
 */
export interface PushedAuthorization {
  /**
   * Posts the query of `url` to the provider's `pushed_authorization_request_endpoint` with the
   * endpoint's client authentication; the URL to send the browser to (`client_id` and `request_uri`).
   */
  readonly push: (
    provider: Provider<string>,
    endpoint: TokenEndpoint | undefined,
    url: URL
  ) => Effect.Effect<string, ConfigurationError>
}

// RFC 9126 §2: the request's parameters go to the server directly; the browser gets a reference.
const push: PushedAuthorization["push"] = (provider, endpoint, url) =>
  Effect.gen(function*() {
    if (endpoint === undefined || provider.pushedAuthorizationRequestEndpoint === undefined) {
      return yield* new ConfigurationError({
        reason: "MissingEndpoint",
        detail: `${provider.name} pushes its authorization requests: give Authorization.start the client's ` +
          "token endpoint, and the provider its pushed_authorization_request_endpoint"
      })
    }
    // The endpoint's client authentication names the client (in the body, or by Basic): a second
    // client_id would be a repeated parameter. A refused push is a login that cannot start.
    const form = [...url.searchParams].filter(([name]) => name !== "client_id")
    const answer = yield* Effect.mapError(
      postForm(endpoint, provider.pushedAuthorizationRequestEndpoint, form),
      (error) =>
        error instanceof ConfigurationError
          ? error
          : new ConfigurationError({
            reason: "InvalidMetadata",
            detail: `the pushed authorization request failed: ${error.message}`
          })
    )
    if (typeof answer.request_uri !== "string" || answer.request_uri.length === 0) {
      return yield* new ConfigurationError({
        reason: "InvalidMetadata",
        detail: "the pushed authorization response has no request_uri"
      })
    }
    const pushed = new URL(url.origin + url.pathname)
    pushed.searchParams.set("client_id", url.searchParams.get("client_id") ?? "")
    pushed.searchParams.set("request_uri", answer.request_uri)
    return pushed.toString()
  })

/**
 * The provider with pushed authorization requests (RFC 9126): every login's parameters are posted
 * to its `pushed_authorization_request_endpoint` with the client's authentication, and the browser
 * is sent only `client_id` and the `request_uri` the server answered. Needed when the server
 * requires it (`require_pushed_authorization_requests`; `Discovery.discover` then adds it itself),
 * and useful whenever the request should not travel through the browser.
 *
 * @since 0.1.0
 * @category constructors
 */
export const pushed = <P extends Provider<string>>(provider: P): P => ({
  ...provider,
  extensions: { ...provider.extensions, pushedAuthorization: { push } }
})

/**
 * The parameters of a callback, each appearing once.
 *
 * @since 0.1.0
 * @category models
 */
export type CallbackParams = ReadonlyMap<string, string>

// An authorization-code response never carries a token; one in the URL means a misconfigured or
// hostile server (or an implicit-flow response injected into this login).
const tokenParams = ["access_token", "id_token", "token", "refresh_token"]

const toUrl = (callbackUrl: string | URL): Either.Either<URL, AuthorizationError> => {
  try {
    return Either.right(new URL(callbackUrl))
  } catch {
    return Either.left(new AuthorizationError({ reason: "InvalidCallback", description: "not a URL" }))
  }
}

/**
 * Reads a callback URL's query; a repeated parameter (`DuplicateParameter`, naming the parameter,
 * never its value), or a token in the query or the fragment (`TokenInCallback`), is refused.
 *
 * @since 0.1.0
 * @category parsing
 */
export const parseCallback = (callbackUrl: string | URL): Effect.Effect<CallbackParams, AuthorizationError> =>
  Effect.gen(function*() {
    const url = yield* toUrl(callbackUrl)
    const fragment = new URLSearchParams(url.hash.startsWith("#") ? url.hash.slice(1) : url.hash)
    for (const name of tokenParams) {
      if (url.searchParams.has(name) || fragment.has(name)) {
        return yield* new AuthorizationError({ reason: "TokenInCallback" })
      }
    }
    const params = new Map<string, string>()
    for (const [name, value] of url.searchParams) {
      if (params.has(name)) {
        return yield* new AuthorizationError({ reason: "DuplicateParameter", description: name })
      }
      params.set(name, value)
    }
    return params
  })

// Compares in time independent of where the strings differ.
const constantTimeEquals = (a: string, b: string): boolean => {
  let difference = a.length ^ b.length
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    difference |= (a.charCodeAt(i) | 0) ^ (b.charCodeAt(i) | 0)
  }
  return difference === 0
}

const sameOption = Option.getEquivalence((a: string, b: string) => a === b)

// A server's own description is shown to the user; it is bounded so a hostile callback cannot bloat logs.
const maxDescription = 300

const checkAndExchange = (
  endpoint: TokenEndpoint,
  transaction: Transaction,
  params: CallbackParams
): Effect.Effect<Token, AuthorizationError | TokenRequestError | ConfigurationError | IdTokenError> =>
  Effect.gen(function*() {
    const state = params.get("state")
    if (state === undefined) return yield* new AuthorizationError({ reason: "MissingState" })
    if (!constantTimeEquals(state, Redacted.value(transaction.state))) {
      return yield* new AuthorizationError({ reason: "StateMismatch" })
    }
    const provider = endpoint.provider
    if (
      transaction.provider !== provider.name || transaction.clientId !== endpoint.client.clientId ||
      !sameOption(transaction.issuer, provider.issuer)
    ) {
      return yield* new AuthorizationError({ reason: "WrongProvider" })
    }
    const iss = params.get("iss")
    if (iss !== undefined || provider.authorizationResponseIssParameterSupported) {
      // RFC 9207: an `iss` we cannot compare is refused too, and the fix is in the configuration.
      if (Option.isNone(provider.issuer)) {
        return yield* new AuthorizationError({ reason: "IssuerNotConfigured", description: provider.name })
      }
      if (iss !== provider.issuer.value) return yield* new AuthorizationError({ reason: "IssuerMismatch" })
    }
    const error = params.get("error")
    if (error !== undefined) {
      const description = params.get("error_description")
      return yield* new AuthorizationError({
        reason: "Denied",
        error: error.slice(0, maxDescription),
        ...(description === undefined ? {} : { description: description.slice(0, maxDescription) })
      })
    }
    const code = params.get("code")
    if (code === undefined || code.length === 0) {
      return yield* new AuthorizationError({ reason: "MissingCode" })
    }
    return yield* endpoint.request(
      Grant.AuthorizationCode({
        code: Redacted.make(code),
        codeVerifier: transaction.codeVerifier,
        // The stored URI, byte for byte: the server compares it with the one it saw in the request.
        redirectUri: transaction.redirectUri
      }),
      { requested: transaction.scopes, nonce: transaction.nonce }
    )
  })

// Transactions a callback has named. A code is single-use and a server with reuse detection
// revokes the whole grant when one comes back, so a replayed callback must never reach it.
// Weak: a spent transaction costs nothing once the application lets go of it.
const spent = new WeakSet<Transaction>()

// Spends the transaction if the URL names its state (checked and marked in one step, so of two
// concurrent callbacks only one goes on); false if it was already spent.
const spend = (transaction: Transaction, url: URL): Effect.Effect<boolean> =>
  Effect.sync(() => {
    if (spent.has(transaction)) return false
    const state = Redacted.value(transaction.state)
    if (url.searchParams.getAll("state").some((candidate) => constantTimeEquals(candidate, state))) {
      spent.add(transaction)
    }
    return true
  })

/**
 * Checks a callback against its transaction, in order: duplicates and tokens in the URL, the state
 * (missing, then different, compared in constant time), the provider and client, `iss`
 * (RFC 9207: when sent, or when the provider says it sends it), the server's `error`, the code;
 * only then is the code exchanged, with the stored verifier and redirect URI. No rejection sends a
 * request.
 *
 * The transaction is spent by the first callback that names its state, whatever happens next (a
 * rejected callback, a failed exchange): a replay with the same transaction is a `StateMismatch`
 * and sends nothing. A callback with a wrong or missing state leaves it unspent. A copy decoded
 * again from storage is another value: delete the stored copy when taking it, or keep logins in
 * {@link PendingLogins} and use {@link completeWith}.
 *
 * @since 0.1.0
 * @category accessors
 */
export const complete = (
  endpoint: TokenEndpoint,
  transaction: Transaction,
  callbackUrl: string | URL
): Effect.Effect<Token, AuthorizationError | TokenRequestError | ConfigurationError | IdTokenError> =>
  Effect.gen(function*() {
    const url = yield* toUrl(callbackUrl)
    const fresh = yield* spend(transaction, url)
    const params = yield* parseCallback(url)
    if (!fresh) {
      return yield* new AuthorizationError({ reason: params.has("state") ? "StateMismatch" : "MissingState" })
    }
    return yield* checkAndExchange(endpoint, transaction, params)
  }).pipe(
    Effect.withSpan("Authorization.complete", {
      captureStackTrace: false,
      attributes: { "oauth.provider": transaction.provider }
    })
  )

/**
 * Logins in progress, by state. Each transaction can be taken once, and expires after a time to
 * live.
 *
 * @since 0.1.0
 * @category models
 */
export interface PendingLogins {
  /** Keeps a transaction until its callback arrives (or it expires). */
  readonly register: (transaction: Transaction) => Effect.Effect<void>
  /** Removes and returns the transaction of `state`; `None` if unknown, used or expired. */
  readonly take: (state: string) => Effect.Effect<Option.Option<Transaction>>
  /** How many logins are pending (expired ones are not counted). */
  readonly size: Effect.Effect<number>
}

/**
 * An in-memory registry of logins in progress (default time to live: 10 minutes, by the `Clock`).
 * Expired transactions are dropped whenever the registry is used.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makePendingLogins = (
  options: { readonly timeToLive?: Duration.DurationInput | undefined } = {}
): Effect.Effect<PendingLogins> =>
  Effect.map(Ref.make(new Map<string, Transaction>()), (ref) => {
    const ttl = Duration.toMillis(options.timeToLive ?? Duration.minutes(10))
    const live = (map: ReadonlyMap<string, Transaction>, now: number) => {
      const next = new Map<string, Transaction>()
      for (const [key, transaction] of map) if (now - transaction.createdAt <= ttl) next.set(key, transaction)
      return next
    }
    const modify = <A>(f: (map: Map<string, Transaction>) => A) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        Ref.modify(ref, (map) => {
          const next = live(map, now)
          return [f(next), next]
        }))
    return {
      register: (transaction) => modify((map) => void map.set(Redacted.value(transaction.state), transaction)),
      take: (state) =>
        modify((map) => {
          const found = Option.fromNullable(map.get(state))
          map.delete(state)
          return found
        }),
      size: modify((map) => map.size)
    }
  })

/**
 * Completes a callback whose transaction is among the pending logins. The transaction is consumed
 * on first use, whatever happens next (a rejected callback, a failed exchange): a replayed
 * callback finds none (`StateMismatch`), as does an unknown or expired state. The transaction must
 * belong to the endpoint's provider and client (`WrongProvider`).
 *
 * @since 0.1.0
 * @category accessors
 */
export const completeWith = (
  pending: PendingLogins,
  endpoint: TokenEndpoint,
  callbackUrl: string | URL
): Effect.Effect<Token, AuthorizationError | TokenRequestError | ConfigurationError | IdTokenError> =>
  Effect.gen(function*() {
    const url = yield* toUrl(callbackUrl)
    // Every state the URL names is consumed before any other check, so a callback that is
    // rejected for another reason cannot be followed by a second try with the same login.
    const states = url.searchParams.getAll("state")
    const taken = yield* Effect.forEach(states, pending.take)
    const params = yield* parseCallback(url)
    if (!params.has("state")) return yield* new AuthorizationError({ reason: "MissingState" })
    const transaction = Option.firstSomeOf(taken)
    // A transaction already spent by `complete` is as good as unknown.
    if (Option.isNone(transaction) || !(yield* spend(transaction.value, url))) {
      return yield* new AuthorizationError({ reason: "StateMismatch" })
    }
    return yield* checkAndExchange(endpoint, transaction.value, params)
  }).pipe(Effect.withSpan("Authorization.completeWith", {
    captureStackTrace: false,
    attributes: { "oauth.provider": endpoint.provider.name }
  }))
