import type { Grant, OAuthError } from "@effect-oauth/core"
import {
  Authorization,
  ClientConfig,
  OAuthError as Errors,
  Pkce,
  Provider,
  Scopes,
  Token,
  TokenEndpoint
} from "@effect-oauth/core"
import type { ScopeRules } from "@effect-oauth/core/ScopeRules"
import { TestServer } from "@effect-oauth/testing"
import { HttpClient, HttpClientRequest } from "@effect/platform"
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Exit, Option, Redacted, Schema, TestClock } from "effect"

const redirectUri = "http://127.0.0.1:8765/callback"
const code = "the-secret-authorization-code"

const providerA = Provider.make({
  name: "alpha",
  issuer: "https://alpha.example",
  authorizationEndpoint: "https://alpha.example/authorize?tenant=main",
  tokenEndpoint: "https://alpha.example/token"
})
const providerB = Provider.make({
  name: "beta",
  issuer: "https://beta.example",
  authorizationEndpoint: "https://beta.example/authorize",
  tokenEndpoint: "https://beta.example/token"
})
const clientA = ClientConfig.make({ clientId: "client-a" })

const sampleToken = new Token.Token({
  accessToken: Redacted.make("access"),
  tokenType: "Bearer",
  refreshToken: Option.none(),
  expiresAt: Option.none(),
  issuedAt: 0,
  scopes: Scopes.empty,
  version: 0
})

interface Call {
  readonly grant: Grant.Grant
  readonly requested: Scopes.ScopeSet<string> | undefined
}

/** A token endpoint that sends nothing: it records each grant and answers with `answer`. */
const fakeEndpoint = (
  options: {
    readonly provider?: Provider.Provider<string>
    readonly client?: ClientConfig.ClientConfig
    readonly answer?: Effect.Effect<Token.Token, OAuthError.TokenRequestError>
  } = {}
) => {
  const calls: Array<Call> = []
  const endpoint: TokenEndpoint.TokenEndpoint = {
    provider: options.provider ?? providerA,
    client: options.client ?? clientA,
    request: (grant, requestOptions) =>
      Effect.suspend(() => {
        calls.push({ grant, requested: requestOptions?.requested })
        return options.answer ?? Effect.succeed(sampleToken)
      }),
    revoke: () => Effect.dieMessage("not used")
  }
  return { endpoint, calls }
}

const startA = (options: Partial<Authorization.StartOptions> = {}) =>
  Authorization.start({ provider: providerA, client: clientA, redirectUri, scopes: Scopes.make("read"), ...options })

const stateOf = (login: Authorization.Started) => Redacted.value(login.transaction.state)

/** A callback on the redirect URI with the given parameters, in order. */
const callback = (params: ReadonlyArray<readonly [string, string]>, base = redirectUri) => {
  const url = new URL(base)
  for (const [name, value] of params) url.searchParams.append(name, value)
  return url.toString()
}

const good = (login: Authorization.Started, more: ReadonlyArray<readonly [string, string]> = []) =>
  callback([["code", code], ["state", stateOf(login)], ...more])

const reason = (error: unknown) => (error as OAuthError.AuthorizationError).reason

/** No secret of the login may appear in what an error shows. */
const assertNoSecret = (error: unknown, login: Authorization.Started) => {
  const shown = [String(error), (error as Error).message, JSON.stringify(error)].join("\n")
  for (const secret of [code, stateOf(login), Redacted.value(login.transaction.codeVerifier)]) {
    assert.notInclude(shown, secret)
  }
}

const base64UrlBytes = (text: string) => Buffer.from(text, "base64url").length

describe("Authorization.start", () => {
  it.effect("builds the URL: response_type, client_id, redirect_uri, scope, state, S256 challenge, explicitly", () =>
    Effect.gen(function*() {
      const login = yield* startA()
      const url = new URL(login.url)
      assert.strictEqual(url.origin + url.pathname, "https://alpha.example/authorize")
      assert.strictEqual(url.searchParams.get("tenant"), "main")
      assert.strictEqual(url.searchParams.get("response_type"), "code")
      assert.strictEqual(url.searchParams.get("client_id"), "client-a")
      assert.strictEqual(url.searchParams.get("redirect_uri"), redirectUri)
      assert.strictEqual(url.searchParams.get("scope"), "read")
      assert.strictEqual(url.searchParams.get("state"), stateOf(login))
      assert.strictEqual(url.searchParams.get("code_challenge_method"), "S256")
      assert.strictEqual(url.searchParams.get("code_challenge"), yield* Pkce.challenge(login.transaction.codeVerifier))
      assert.isFalse(url.searchParams.has("code_verifier"))
      assert.notInclude(login.url, Redacted.value(login.transaction.codeVerifier))
    }))

  it.effect("the transaction keeps the redirect URI, provider, issuer, client, scopes and Clock time", () =>
    Effect.gen(function*() {
      yield* TestClock.adjust(Duration.seconds(1234))
      const { transaction } = yield* startA()
      assert.strictEqual(transaction.redirectUri, redirectUri)
      assert.strictEqual(transaction.provider, "alpha")
      assert.deepStrictEqual(transaction.issuer, Option.some("https://alpha.example"))
      assert.strictEqual(transaction.clientId, "client-a")
      assert.strictEqual(Scopes.format(transaction.scopes), "read")
      assert.strictEqual(transaction.createdAt, 1_234_000)
    }))

  it.effect("state has at least 128 bits (32 random bytes) and is unique per login", () =>
    Effect.gen(function*() {
      const states = new Set<string>()
      const verifiers = new Set<string>()
      for (let i = 0; i < 200; i++) {
        const login = yield* startA()
        const state = stateOf(login)
        assert.match(state, /^[A-Za-z0-9_-]+$/)
        assert.isAtLeast(base64UrlBytes(state) * 8, 128)
        assert.strictEqual(base64UrlBytes(state), 32)
        states.add(state)
        verifiers.add(Redacted.value(login.transaction.codeVerifier))
      }
      assert.strictEqual(states.size, 200)
      assert.strictEqual(verifiers.size, 200)
    }))

  it.effect("extra parameters are sent but cannot replace the protocol's own", () =>
    Effect.gen(function*() {
      const login = yield* startA({
        extraParams: { prompt: "consent", code_challenge_method: "plain", state: "fixed", response_type: "token" }
      })
      const url = new URL(login.url)
      assert.strictEqual(url.searchParams.get("prompt"), "consent")
      assert.deepStrictEqual(url.searchParams.getAll("code_challenge_method"), ["S256"])
      assert.deepStrictEqual(url.searchParams.getAll("state"), [stateOf(login)])
      assert.deepStrictEqual(url.searchParams.getAll("response_type"), ["code"])
    }))

  it.effect("scope is left out when nothing is asked and the provider has no default", () =>
    Effect.gen(function*() {
      const login = yield* startA({ scopes: Scopes.empty })
      assert.isFalse(new URL(login.url).searchParams.has("scope"))
      const extra = yield* startA({ scopes: Scopes.empty, extraParams: { scope: "sneaky" } })
      assert.isFalse(new URL(extra.url).searchParams.has("scope"))
    }))

  it.effect("with no scopes, the grant's defaults are asked for, and implied scopes are recorded", () =>
    Effect.gen(function*() {
      const scopeRules: ScopeRules<string> = {
        known: "any",
        grants: { AuthorizationCode: { defaults: ["identify"], implied: ["identify", "basic"] } },
        constraints: []
      }
      const provider = { ...providerA, scopeRules }
      const login = yield* startA({ provider, scopes: Scopes.empty })
      assert.strictEqual(new URL(login.url).searchParams.get("scope"), "identify")
      assert.strictEqual(Scopes.format(login.transaction.scopes), "basic identify")
      const asked = yield* startA({ provider, scopes: Scopes.make("public") })
      assert.strictEqual(new URL(asked.url).searchParams.get("scope"), "public")
      assert.strictEqual(Scopes.format(asked.transaction.scopes), "basic identify public")
    }))

  it.effect("scopes that break the provider's rules are refused before anything is built", () =>
    Effect.gen(function*() {
      const scopeRules: ScopeRules<string> = { known: ["read"], grants: {}, constraints: [] }
      const error = yield* Effect.flip(startA({ provider: { ...providerA, scopeRules }, scopes: Scopes.make("admin") }))
      assert.instanceOf(error, Errors.ScopeError)
      assert.strictEqual((error as OAuthError.ScopeError).rule, "unknown-scope")
    }))

  it.effect("a provider without an authorization endpoint is refused", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(startA({ provider: { ...providerA, authorizationEndpoint: Option.none() } }))
      assert.instanceOf(error, Errors.ConfigurationError)
    }))

  it.effect("an http authorization endpoint is refused unless loopback or allowed", () =>
    Effect.gen(function*() {
      const insecure = { ...providerA, authorizationEndpoint: Option.some("http://alpha.example/authorize") }
      assert.instanceOf(yield* Effect.flip(startA({ provider: insecure })), Errors.ConfigurationError)
      const allowed = yield* startA({ provider: { ...insecure, allowInsecureHttp: true } })
      assert.isTrue(allowed.url.startsWith("http://alpha.example/authorize?"))
      const loopback = yield* startA({
        provider: { ...providerA, authorizationEndpoint: Option.some("http://127.0.0.1:4000/authorize") }
      })
      assert.isTrue(loopback.url.startsWith("http://127.0.0.1:4000/authorize?"))
    }))

  it.effect("a redirect URI with a fragment, or not absolute, is refused", () =>
    Effect.gen(function*() {
      assert.instanceOf(
        yield* Effect.flip(startA({ redirectUri: "https://app.example/cb#x" })),
        Errors.ConfigurationError
      )
      assert.instanceOf(yield* Effect.flip(startA({ redirectUri: "/callback" })), Errors.ConfigurationError)
      // Private-use schemes (RFC 8252 §7.1) are fine.
      const native = yield* startA({ redirectUri: "com.example.app:/oauth2redirect" })
      assert.strictEqual(native.transaction.redirectUri, "com.example.app:/oauth2redirect")
    }))

  it.effect("the transaction survives its encoded form (for sessionStorage or a file), and hides its secrets", () =>
    Effect.gen(function*() {
      const login = yield* startA()
      const encoded = JSON.stringify(yield* Schema.encode(Authorization.Transaction)(login.transaction))
      const decoded = yield* Schema.decodeUnknown(Authorization.Transaction)(JSON.parse(encoded))
      assert.strictEqual(Redacted.value(decoded.state), stateOf(login))
      assert.strictEqual(
        Redacted.value(decoded.codeVerifier),
        Redacted.value(login.transaction.codeVerifier)
      )
      assert.strictEqual(decoded.redirectUri, redirectUri)
      assert.deepStrictEqual(decoded.issuer, login.transaction.issuer)
      assert.isTrue(Scopes.isSubset(decoded.scopes, login.transaction.scopes))
      assert.strictEqual(decoded.createdAt, login.transaction.createdAt)
      for (const shown of [String(login.transaction), JSON.stringify(login.transaction)]) {
        assert.notInclude(shown, stateOf(login))
        assert.notInclude(shown, Redacted.value(login.transaction.codeVerifier))
      }
    }))
})

describe("Authorization.parseCallback", () => {
  it.effect("reads each parameter once", () =>
    Effect.gen(function*() {
      const params = yield* Authorization.parseCallback(callback([["code", "c"], ["state", "s"], ["iss", "i"]]))
      assert.deepStrictEqual([...params], [["code", "c"], ["state", "s"], ["iss", "i"]])
    }))

  it.effect("a repeated parameter is refused, naming the parameter and not its values", () =>
    Effect.gen(function*() {
      for (const name of ["state", "code", "iss", "error", "whatever"]) {
        const error = yield* Effect.flip(
          Authorization.parseCallback(callback([[name, "first-value"], ["x", "y"], [name, "second-value"]]))
        )
        assert.strictEqual(error.reason, "DuplicateParameter")
        assert.strictEqual(error.description, name)
        assert.notInclude(error.message, "first-value")
        assert.notInclude(error.message, "second-value")
      }
    }))

  it.effect("a token in the query or the fragment is refused", () =>
    Effect.gen(function*() {
      for (
        const url of [
          callback([["code", "c"], ["state", "s"], ["access_token", "leak"]]),
          callback([["state", "s"], ["id_token", "leak"]]),
          `${callback([["code", "c"], ["state", "s"]])}#access_token=leak&token_type=bearer`,
          `${callback([["state", "s"]])}#token=leak`
        ]
      ) {
        const error = yield* Effect.flip(Authorization.parseCallback(url))
        assert.strictEqual(error.reason, "TokenInCallback")
        assert.notInclude(error.message, "leak")
      }
    }))

  it.effect("something that is not a URL is an invalid callback", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Authorization.parseCallback("not a url ?code=x"))
      assert.strictEqual(error.reason, "InvalidCallback")
    }))
})

describe("Authorization.complete", () => {
  it.effect("exchanges the code with the stored verifier, the STORED redirect URI and the requested scopes", () =>
    Effect.gen(function*() {
      const { calls, endpoint } = fakeEndpoint()
      const login = yield* startA({ scopes: Scopes.make("read", "write") })
      // The callback arrives on another address than the one stored: the stored one is still sent.
      const arrived = callback([["code", code], ["state", stateOf(login)]], "http://localhost:9999/elsewhere")
      const token = yield* Authorization.complete(endpoint, login.transaction, arrived)
      assert.strictEqual(token, sampleToken)
      assert.strictEqual(calls.length, 1)
      const grant = calls[0].grant
      assert.strictEqual(grant._tag, "AuthorizationCode")
      if (grant._tag !== "AuthorizationCode") return
      assert.strictEqual(Redacted.value(grant.code), code)
      assert.strictEqual(Redacted.value(grant.codeVerifier), Redacted.value(login.transaction.codeVerifier))
      assert.strictEqual(grant.redirectUri, redirectUri)
      assert.strictEqual(Scopes.format(calls[0].requested ?? Scopes.empty), "read write")
    }))

  it.effect("accepts a URL object, and the iss of the provider's issuer", () =>
    Effect.gen(function*() {
      const { calls, endpoint } = fakeEndpoint()
      const login = yield* startA()
      yield* Authorization.complete(
        endpoint,
        login.transaction,
        new URL(good(login, [["iss", "https://alpha.example"]]))
      )
      assert.strictEqual(calls.length, 1)
    }))

  it.effect("an iss is required and checked when the provider says it sends one", () =>
    Effect.gen(function*() {
      const provider = { ...providerA, authorizationResponseIssParameterSupported: true }
      const { calls, endpoint } = fakeEndpoint({ provider })
      const login = yield* startA({ provider })
      yield* Authorization.complete(endpoint, login.transaction, good(login, [["iss", "https://alpha.example"]]))
      assert.strictEqual(calls.length, 1)
    }))

  it.effect("the exchange's own error comes back as it is", () =>
    Effect.gen(function*() {
      const refused = new Errors.TokenRequestError({ reason: "ErrorResponse", error: "invalid_grant", status: 400 })
      const { calls, endpoint } = fakeEndpoint({ answer: Effect.fail(refused) })
      const login = yield* startA()
      const error = yield* Effect.flip(Authorization.complete(endpoint, login.transaction, good(login)))
      assert.strictEqual(error.reason, "ErrorResponse")
      assert.strictEqual((error as OAuthError.TokenRequestError).error, "invalid_grant")
      assert.strictEqual(calls.length, 1)
    }))

  interface Case {
    readonly name: string
    readonly url: (login: Authorization.Started) => string
    readonly reason: OAuthError.AuthorizationError["reason"]
    readonly provider?: Provider.Provider<string>
    readonly transaction?: (transaction: Authorization.Transaction) => Authorization.Transaction
    readonly endpointClient?: ClientConfig.ClientConfig
  }

  const issProvider = { ...providerA, authorizationResponseIssParameterSupported: true }
  const cases: ReadonlyArray<Case> = [
    { name: "a wrong state", url: () => callback([["code", code], ["state", "forged"]]), reason: "StateMismatch" },
    {
      name: "a state that differs only in its last character",
      url: (login) => callback([["code", code], ["state", stateOf(login).slice(0, -1) + "!"]]),
      reason: "StateMismatch"
    },
    {
      name: "a state with something appended",
      url: (login) => callback([["code", code], ["state", stateOf(login) + "x"]]),
      reason: "StateMismatch"
    },
    { name: "an empty state", url: () => callback([["code", code], ["state", ""]]), reason: "StateMismatch" },
    { name: "a missing state", url: () => callback([["code", code]]), reason: "MissingState" },
    {
      name: "a missing state, even with an error",
      url: () => callback([["error", "access_denied"]]),
      reason: "MissingState"
    },
    { name: "no code and no error", url: (login) => callback([["state", stateOf(login)]]), reason: "MissingCode" },
    {
      name: "an empty code",
      url: (login) => callback([["code", ""], ["state", stateOf(login)]]),
      reason: "MissingCode"
    },
    {
      name: "a duplicated code",
      url: (login) => good(login, [["code", "other"]]),
      reason: "DuplicateParameter"
    },
    {
      name: "a duplicated state",
      url: (login) => good(login, [["state", stateOf(login)]]),
      reason: "DuplicateParameter"
    },
    {
      name: "an access_token in the query",
      url: (login) => good(login, [["access_token", "t"]]),
      reason: "TokenInCallback"
    },
    { name: "an id_token in the fragment", url: (login) => `${good(login)}#id_token=t`, reason: "TokenInCallback" },
    {
      name: "an iss of another server",
      url: (login) => good(login, [["iss", "https://evil.example"]]),
      reason: "IssuerMismatch"
    },
    {
      name: "an iss with a trailing slash (compared exactly)",
      url: (login) => good(login, [["iss", "https://alpha.example/"]]),
      reason: "IssuerMismatch"
    },
    {
      name: "a missing iss when the provider promises one",
      url: (login) => good(login),
      reason: "IssuerMismatch",
      provider: issProvider
    },
    {
      name: "an iss when the provider has no issuer to compare it with",
      url: (login) => good(login, [["iss", "https://alpha.example"]]),
      reason: "IssuerNotConfigured",
      provider: { ...providerA, issuer: Option.none() }
    },
    {
      name: "a promised iss when the provider has no issuer to compare it with",
      url: (login) => good(login),
      reason: "IssuerNotConfigured",
      provider: { ...issProvider, issuer: Option.none() }
    },
    {
      name: "an error with a wrong state (state first)",
      url: () => callback([["error", "access_denied"], ["state", "forged"]]),
      reason: "StateMismatch"
    },
    {
      name: "an error with a wrong iss (iss before the error)",
      url: (login) =>
        callback([["error", "access_denied"], ["state", stateOf(login)], ["iss", "https://evil.example"]]),
      reason: "IssuerMismatch"
    },
    {
      name: "an error without the promised iss",
      url: (login) => callback([["error", "access_denied"], ["state", stateOf(login)]]),
      reason: "IssuerMismatch",
      provider: issProvider
    },
    {
      name: "access_denied, after the state and iss checks",
      url: (login) =>
        callback([["error", "access_denied"], ["state", stateOf(login)], ["iss", "https://alpha.example"]]),
      reason: "Denied",
      provider: issProvider
    },
    {
      name: "an error even with a code",
      url: (login) => good(login, [["error", "server_error"]]),
      reason: "Denied"
    },
    {
      name: "a transaction of another provider",
      url: (login) => good(login),
      reason: "WrongProvider",
      transaction: (t) => new Authorization.Transaction({ ...t, provider: "beta" })
    },
    {
      name: "a transaction of another issuer",
      url: (login) => good(login),
      reason: "WrongProvider",
      transaction: (t) => new Authorization.Transaction({ ...t, issuer: Option.some("https://beta.example") })
    },
    {
      name: "a transaction of another client",
      url: (login) => good(login),
      reason: "WrongProvider",
      endpointClient: ClientConfig.make({ clientId: "client-b" })
    }
  ]

  for (const c of cases) {
    it.effect(`rejects ${c.name} with ${c.reason}, before any token request, showing no secret`, () =>
      Effect.gen(function*() {
        const provider = c.provider ?? providerA
        const { calls, endpoint } = fakeEndpoint({
          provider,
          ...(c.endpointClient ? { client: c.endpointClient } : {})
        })
        const login = yield* startA({ provider })
        const transaction = c.transaction ? c.transaction(login.transaction) : login.transaction
        const error = yield* Effect.flip(Authorization.complete(endpoint, transaction, c.url(login)))
        assert.instanceOf(error, Errors.AuthorizationError)
        assert.strictEqual(reason(error), c.reason)
        assert.strictEqual(calls.length, 0)
        assertNoSecret(error, login)
      }))
  }

  it.effect("an iss for a provider without an issuer says to set the provider's issuer", () =>
    Effect.gen(function*() {
      const provider = { ...providerA, issuer: Option.none() }
      const { endpoint } = fakeEndpoint({ provider })
      const login = yield* startA({ provider })
      const error = yield* Effect.flip(
        Authorization.complete(endpoint, login.transaction, good(login, [["iss", "https://alpha.example"]]))
      )
      assert.strictEqual(reason(error), "IssuerNotConfigured")
      assert.include(error.message, "Set the provider's issuer")
      assert.include(error.message, "alpha")
      assert.notInclude(error.message, "mix-up")
    }))

  it.effect("every RFC 6749 §4.1.2.1 error is a Denied error carrying the code and description", () =>
    Effect.gen(function*() {
      const { calls, endpoint } = fakeEndpoint()
      for (
        const error of [
          "access_denied",
          "invalid_request",
          "unauthorized_client",
          "unsupported_response_type",
          "invalid_scope",
          "server_error",
          "temporarily_unavailable"
        ]
      ) {
        const login = yield* startA()
        const url = callback([["error", error], ["error_description", "The user said no"], ["state", stateOf(login)]])
        const denied = yield* Effect.flip(Authorization.complete(endpoint, login.transaction, url))
        assert.strictEqual(reason(denied), "Denied")
        const typed = denied as OAuthError.AuthorizationError
        assert.strictEqual(typed.error, error)
        assert.strictEqual(typed.description, "The user said no")
        assert.include(typed.message, error)
        assert.include(typed.message, "The user said no")
      }
      assert.strictEqual(calls.length, 0)
    }))

  it.effect("a huge error description is cut short", () =>
    Effect.gen(function*() {
      const { endpoint } = fakeEndpoint()
      const login = yield* startA()
      const url = callback([["error", "access_denied"], ["error_description", "x".repeat(100_000)], [
        "state",
        stateOf(login)
      ]])
      const error = yield* Effect.flip(Authorization.complete(endpoint, login.transaction, url))
      assert.isAtMost((error as OAuthError.AuthorizationError).description?.length ?? 0, 300)
    }))
})

describe("Authorization.PendingLogins", () => {
  const setup = (options?: { readonly timeToLive?: Duration.DurationInput }) =>
    Effect.gen(function*() {
      const pending = yield* Authorization.makePendingLogins(options)
      const login = yield* startA()
      yield* pending.register(login.transaction)
      return { pending, login }
    })

  it.effect("completes a registered login once: a replayed callback is rejected without a request", () =>
    Effect.gen(function*() {
      const { calls, endpoint } = fakeEndpoint()
      const { login, pending } = yield* setup()
      yield* Authorization.completeWith(pending, endpoint, good(login))
      const replay = yield* Effect.flip(Authorization.completeWith(pending, endpoint, good(login)))
      assert.strictEqual(reason(replay), "StateMismatch")
      assert.strictEqual(calls.length, 1)
      assert.strictEqual(yield* pending.size, 0)
    }))

  it.effect("the transaction is consumed even when the exchange fails", () =>
    Effect.gen(function*() {
      const refused = new Errors.TokenRequestError({ reason: "ErrorResponse", error: "invalid_grant", status: 400 })
      const { calls, endpoint } = fakeEndpoint({ answer: Effect.fail(refused) })
      const { login, pending } = yield* setup()
      const failed = yield* Effect.flip(Authorization.completeWith(pending, endpoint, good(login)))
      assert.strictEqual(failed.reason, "ErrorResponse")
      const again = yield* Effect.flip(Authorization.completeWith(pending, endpoint, good(login)))
      assert.strictEqual(reason(again), "StateMismatch")
      assert.strictEqual(calls.length, 1)
    }))

  it.effect("the transaction is consumed by a rejected callback that names its state", () =>
    Effect.gen(function*() {
      const { calls, endpoint } = fakeEndpoint()
      for (
        const [bad, expected] of [
          [(login: Authorization.Started) => good(login, [["code", "second"]]), "DuplicateParameter"],
          [(login: Authorization.Started) => good(login, [["access_token", "t"]]), "TokenInCallback"],
          [(login: Authorization.Started) => good(login, [["iss", "https://evil.example"]]), "IssuerMismatch"],
          [(login: Authorization.Started) => callback([["state", stateOf(login)]]), "MissingCode"],
          [
            (login: Authorization.Started) => callback([["error", "access_denied"], ["state", stateOf(login)]]),
            "Denied"
          ]
        ] as const
      ) {
        const { login, pending } = yield* setup()
        assert.strictEqual(
          reason(yield* Effect.flip(Authorization.completeWith(pending, endpoint, bad(login)))),
          expected
        )
        const retry = yield* Effect.flip(Authorization.completeWith(pending, endpoint, good(login)))
        assert.strictEqual(reason(retry), "StateMismatch")
      }
      assert.strictEqual(calls.length, 0)
    }))

  it.effect("an unknown state is a mismatch and a missing one is missing; neither consumes the login", () =>
    Effect.gen(function*() {
      const { calls, endpoint } = fakeEndpoint()
      const { login, pending } = yield* setup()
      const unknown = yield* Effect.flip(
        Authorization.completeWith(pending, endpoint, callback([["code", code], ["state", "unknown"]]))
      )
      assert.strictEqual(reason(unknown), "StateMismatch")
      const missing = yield* Effect.flip(Authorization.completeWith(pending, endpoint, callback([["code", code]])))
      assert.strictEqual(reason(missing), "MissingState")
      assert.strictEqual(calls.length, 0)
      yield* Authorization.completeWith(pending, endpoint, good(login))
      assert.strictEqual(calls.length, 1)
    }))

  it.effect("the state of another provider's login is rejected (and that login consumed)", () =>
    Effect.gen(function*() {
      const a = fakeEndpoint()
      const b = fakeEndpoint({ provider: providerB })
      const pending = yield* Authorization.makePendingLogins()
      const loginB = yield* Authorization.start({ provider: providerB, client: clientA, redirectUri })
      yield* pending.register(loginB.transaction)
      const error = yield* Effect.flip(Authorization.completeWith(pending, a.endpoint, good(loginB)))
      assert.strictEqual(reason(error), "WrongProvider")
      assertNoSecret(error, loginB)
      const later = yield* Effect.flip(Authorization.completeWith(pending, b.endpoint, good(loginB)))
      assert.strictEqual(reason(later), "StateMismatch")
      assert.strictEqual(a.calls.length + b.calls.length, 0)
    }))

  it.effect("logins with two providers are each completed by their own endpoint", () =>
    Effect.gen(function*() {
      const a = fakeEndpoint()
      const b = fakeEndpoint({ provider: providerB })
      const pending = yield* Authorization.makePendingLogins()
      const loginA = yield* startA()
      const loginB = yield* Authorization.start({ provider: providerB, client: clientA, redirectUri })
      yield* pending.register(loginA.transaction)
      yield* pending.register(loginB.transaction)
      assert.strictEqual(yield* pending.size, 2)
      yield* Authorization.completeWith(pending, b.endpoint, good(loginB))
      yield* Authorization.completeWith(pending, a.endpoint, good(loginA))
      assert.strictEqual(a.calls.length, 1)
      assert.strictEqual(b.calls.length, 1)
    }))

  it.effect("a transaction expires after its time to live (TestClock)", () =>
    Effect.gen(function*() {
      const { calls, endpoint } = fakeEndpoint()
      const first = yield* setup({ timeToLive: Duration.minutes(5) })
      yield* TestClock.adjust(Duration.minutes(5))
      yield* Authorization.completeWith(first.pending, endpoint, good(first.login))
      assert.strictEqual(calls.length, 1)
      const second = yield* setup({ timeToLive: Duration.minutes(5) })
      yield* TestClock.adjust(Duration.minutes(5).pipe(Duration.sum(Duration.millis(1))))
      const error = yield* Effect.flip(Authorization.completeWith(second.pending, endpoint, good(second.login)))
      assert.strictEqual(reason(error), "StateMismatch")
      assert.strictEqual(calls.length, 1)
    }))

  it.effect("the default time to live is 10 minutes, and expired logins are dropped", () =>
    Effect.gen(function*() {
      const { endpoint } = fakeEndpoint()
      const { login, pending } = yield* setup()
      yield* TestClock.adjust(Duration.minutes(9))
      assert.strictEqual(yield* pending.size, 1)
      yield* TestClock.adjust(Duration.minutes(2))
      assert.strictEqual(yield* pending.size, 0)
      const error = yield* Effect.flip(Authorization.completeWith(pending, endpoint, good(login)))
      assert.strictEqual(reason(error), "StateMismatch")
    }))

  it.effect("take hands a transaction out once", () =>
    Effect.gen(function*() {
      const { login, pending } = yield* setup()
      const first = yield* pending.take(stateOf(login))
      assert.isTrue(Option.isSome(first))
      assert.isTrue(Option.isNone(yield* pending.take(stateOf(login))))
    }))

  it.effect("concurrent callbacks with one state: exactly one exchange", () =>
    Effect.gen(function*() {
      const { calls, endpoint } = fakeEndpoint()
      const { login, pending } = yield* setup()
      const results = yield* Effect.forEach(
        Array.from({ length: 20 }, () => Authorization.completeWith(pending, endpoint, good(login))),
        Effect.exit,
        { concurrency: "unbounded" }
      )
      assert.strictEqual(results.filter(Exit.isSuccess).length, 1)
      assert.strictEqual(calls.length, 1)
    }))
})

describe("Authorization against the test server", () => {
  /** A token endpoint over the test server that counts the requests it sends. */
  const setup = (options?: TestServer.Options) =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      const provider = server.provider()
      const real = yield* TokenEndpoint.make({ provider, client: server.client })
      let requests = 0
      const endpoint: TokenEndpoint.TokenEndpoint = {
        ...real,
        request: (grant, opts) => Effect.suspend(() => (requests++, real.request(grant, opts)))
      }
      const login = yield* Authorization.start({
        provider,
        client: server.client,
        redirectUri,
        scopes: Scopes.make("read")
      })
      return { server, provider, endpoint, login, requests: () => requests }
    }).pipe(Effect.provide(TestServer.layerInMemory(options)))

  const withParam = (url: string, name: string, value: string | null) => {
    const parsed = new URL(url)
    if (value === null) parsed.searchParams.delete(name)
    else parsed.searchParams.set(name, value)
    return parsed.toString()
  }

  it.effect("a full login: the code is exchanged with the stored verifier and redirect URI", () =>
    Effect.gen(function*() {
      const { endpoint, login, requests, server } = yield* setup()
      const callbackUrl = yield* server.authorize(login.url)
      const token = yield* Authorization.complete(endpoint, login.transaction, callbackUrl)
      assert.instanceOf(token, Token.Token)
      assert.isTrue(Option.isSome(token.refreshToken))
      assert.strictEqual(requests(), 1)
    }))

  it.effect("the server refuses a code exchanged with another verifier", () =>
    Effect.gen(function*() {
      const { endpoint, login, server } = yield* setup()
      const other = yield* setup()
      const callbackUrl = yield* server.authorize(login.url)
      const error = yield* Effect.flip(
        Authorization.complete(
          endpoint,
          new Authorization.Transaction({ ...login.transaction, codeVerifier: other.login.transaction.codeVerifier }),
          callbackUrl
        )
      )
      assert.strictEqual(error.reason, "ErrorResponse")
    }))

  it.effect("the server's iss is accepted when it promises one", () =>
    Effect.gen(function*() {
      const { endpoint, login, requests, server } = yield* setup({ issParameter: true })
      const callbackUrl = yield* server.authorize(login.url)
      assert.isTrue(new URL(callbackUrl).searchParams.has("iss"))
      yield* Authorization.complete(endpoint, login.transaction, callbackUrl)
      assert.strictEqual(requests(), 1)
      const second = yield* Authorization.start({ provider: endpoint.provider, client: endpoint.client, redirectUri })
      const forged = withParam(yield* server.authorize(second.url), "iss", "https://evil.example")
      assert.strictEqual(
        reason(yield* Effect.flip(Authorization.complete(endpoint, second.transaction, forged))),
        "IssuerMismatch"
      )
      assert.strictEqual(requests(), 1)
    }))

  it.effect("a denial carries the server's description, and a wrong state wins over it", () =>
    Effect.gen(function*() {
      const { endpoint, login, requests, server } = yield* setup({ denyAuthorization: true })
      const callbackUrl = yield* server.authorize(login.url)
      const error = yield* Effect.flip(Authorization.complete(endpoint, login.transaction, callbackUrl))
      assert.strictEqual(reason(error), "Denied")
      assert.include(error.message, "denied")
      const forged = withParam(callbackUrl, "state", "forged")
      assert.strictEqual(
        reason(yield* Effect.flip(Authorization.complete(endpoint, login.transaction, forged))),
        "StateMismatch"
      )
      assert.strictEqual(requests(), 0)
    }))

  const codeExchanges = Effect.map(
    Effect.flatMap(TestServer.TestServer, (server) => server.counters),
    (counters) => TestServer.tokenRequests(counters, "authorization_code")
  )

  /** The server's answer to `/me` with this access token. */
  const meStatus = (token: Token.Token) =>
    Effect.flatMap(TestServer.TestServer, (server) =>
      HttpClient.execute(
        HttpClientRequest.get(server.meEndpoint).pipe(HttpClientRequest.bearerToken(token.accessToken))
      )).pipe(Effect.map((response) => response.status), Effect.scoped)

  it.effect("a replayed callback never reaches the server: complete spends its transaction", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      const endpoint = yield* TokenEndpoint.make({ provider: server.provider(), client: server.client })
      const login = yield* Authorization.start({ provider: endpoint.provider, client: server.client, redirectUri })
      const callbackUrl = yield* server.authorize(login.url)
      const token = yield* Authorization.complete(endpoint, login.transaction, callbackUrl)
      assert.deepStrictEqual(yield* codeExchanges, { ok: 1, error: 0 })
      const replay = yield* Effect.flip(Authorization.complete(endpoint, login.transaction, callbackUrl))
      assert.strictEqual(reason(replay), "StateMismatch")
      assertNoSecret(replay, login)
      // The server saw one exchange, so its reuse detection left the user's session alone.
      assert.deepStrictEqual(yield* codeExchanges, { ok: 1, error: 0 })
      assert.strictEqual(yield* meStatus(token), 200)
      // Nor does the same transaction go on through a registry afterwards.
      const pending = yield* Authorization.makePendingLogins()
      yield* pending.register(login.transaction)
      const registered = yield* Effect.flip(Authorization.completeWith(pending, endpoint, callbackUrl))
      assert.strictEqual(reason(registered), "StateMismatch")
      assert.deepStrictEqual(yield* codeExchanges, { ok: 1, error: 0 })
    }).pipe(Effect.provide(TestServer.layerInMemory())))

  it.effect("a failed exchange spends the transaction too, and concurrent callbacks make one exchange", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      const endpoint = yield* TokenEndpoint.make({ provider: server.provider(), client: server.client })
      const login = yield* Authorization.start({ provider: endpoint.provider, client: server.client, redirectUri })
      const callbackUrl = yield* server.authorize(login.url)
      const results = yield* Effect.forEach(
        Array.from({ length: 10 }, () => Authorization.complete(endpoint, login.transaction, callbackUrl)),
        Effect.exit,
        { concurrency: "unbounded" }
      )
      assert.strictEqual(results.filter(Exit.isSuccess).length, 1)
      assert.deepStrictEqual(yield* codeExchanges, { ok: 1, error: 0 })

      const refused = yield* Authorization.start({ provider: endpoint.provider, client: server.client, redirectUri })
      const wrongCode = withParam(yield* server.authorize(refused.url), "code", "not-the-code")
      const failed = yield* Effect.flip(Authorization.complete(endpoint, refused.transaction, wrongCode))
      assert.strictEqual(failed.reason, "ErrorResponse")
      assert.deepStrictEqual(yield* codeExchanges, { ok: 1, error: 1 })
      const retry = yield* Effect.flip(Authorization.complete(endpoint, refused.transaction, wrongCode))
      assert.strictEqual(reason(retry), "StateMismatch")
      assert.deepStrictEqual(yield* codeExchanges, { ok: 1, error: 1 })
    }).pipe(Effect.provide(TestServer.layerInMemory())))

  it.effect("a callback with a wrong or missing state leaves the transaction to the real one", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      const endpoint = yield* TokenEndpoint.make({ provider: server.provider(), client: server.client })
      const login = yield* Authorization.start({ provider: endpoint.provider, client: server.client, redirectUri })
      const callbackUrl = yield* server.authorize(login.url)
      const forged = yield* Effect.flip(
        Authorization.complete(endpoint, login.transaction, withParam(callbackUrl, "state", "forged"))
      )
      assert.strictEqual(reason(forged), "StateMismatch")
      const missing = yield* Effect.flip(
        Authorization.complete(endpoint, login.transaction, withParam(callbackUrl, "state", null))
      )
      assert.strictEqual(reason(missing), "MissingState")
      assert.deepStrictEqual(yield* codeExchanges, { ok: 0, error: 0 })
      yield* Authorization.complete(endpoint, login.transaction, callbackUrl)
      assert.deepStrictEqual(yield* codeExchanges, { ok: 1, error: 0 })
    }).pipe(Effect.provide(TestServer.layerInMemory())))

  it.effect("PendingLogins with the server: a replayed callback is rejected", () =>
    Effect.gen(function*() {
      const { endpoint, login, requests, server } = yield* setup()
      const pending = yield* Authorization.makePendingLogins()
      yield* pending.register(login.transaction)
      const callbackUrl = yield* server.authorize(login.url)
      yield* Authorization.completeWith(pending, endpoint, callbackUrl)
      const replay = yield* Effect.flip(Authorization.completeWith(pending, endpoint, callbackUrl))
      assert.strictEqual(reason(replay), "StateMismatch")
      assert.strictEqual(requests(), 1)
    }))
})
