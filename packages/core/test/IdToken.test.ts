import type { Provider } from "@effect-oauth/core"
import { Authorization, Discovery, Grant, IdToken, Scopes, TokenEndpoint } from "@effect-oauth/core"
import { TestServer } from "@effect-oauth/testing"
import { assert, describe, it } from "@effect/vitest"
import { Cause, Duration, Effect, Either, Exit, Option, Predicate, Redacted, Schema, TestClock } from "effect"

const redirectUri = "http://127.0.0.1:8765/callback"

/** One whole OpenID login against the test server: start, the user's browser, complete. */
const signIn = (options: IdToken.Options = {}, scopes = Scopes.make("openid", "profile")) =>
  Effect.gen(function*() {
    const server = yield* TestServer.TestServer
    const provider = IdToken.openId(server.provider(), options)
    const endpoint = yield* TokenEndpoint.make({ provider, client: server.client })
    const started = yield* Authorization.start({ provider, client: server.client, redirectUri, scopes })
    const callback = yield* server.authorize(started.url)
    const token = yield* Authorization.complete(endpoint, started.transaction, callback)
    return { token, started, endpoint, provider }
  })

/** What an exit came to: `succeeded`, the failed check of an `IdTokenError`, or another error's tag. */
const failedCheck = (exit: Exit.Exit<unknown, unknown>): string =>
  Exit.match(exit, {
    onSuccess: () => "succeeded",
    onFailure: (cause) =>
      Option.match(Cause.failureOption(cause), {
        onNone: () => "defect",
        onSome: (error) =>
          error instanceof IdToken.IdTokenError
            ? error.reason
            : Predicate.hasProperty(error, "_tag")
            ? String(error._tag)
            : "unknown"
      })
  })

const faultCheck = (fault: TestServer.Switches["idTokenFault"], options: IdToken.Options = {}) =>
  Effect.gen(function*() {
    const server = yield* TestServer.TestServer
    yield* server.configure({ idTokenFault: fault })
    return failedCheck(yield* Effect.exit(signIn(options)))
  })

describe("IdToken", () => {
  it.effect("a login sends a fresh random nonce kept in its transaction, and returns the checked ID token with its claims", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      const { started, token } = yield* signIn()
      const sent = new URL(started.url).searchParams.get("nonce")
      assert.isNotNull(sent)
      assert.strictEqual(sent, Redacted.value(Option.getOrThrow(started.transaction.nonce)))
      // 256 random bits in base64url, neither the state, the verifier nor its code_challenge.
      assert.match(sent!, /^[A-Za-z0-9_-]{43}$/)
      assert.notStrictEqual(sent, Redacted.value(started.transaction.state))
      assert.notStrictEqual(sent, Redacted.value(started.transaction.codeVerifier))
      assert.notStrictEqual(sent, new URL(started.url).searchParams.get("code_challenge"))
      // Another login, another nonce.
      const other = yield* Authorization.start({
        provider: IdToken.openId(server.provider()),
        client: server.client,
        redirectUri
      })
      assert.notStrictEqual(new URL(other.url).searchParams.get("nonce"), sent)
      assert.notInclude(String(started.transaction), sent!)
      assert.notInclude(JSON.stringify(started.transaction), sent!)
      assert.isTrue(Option.isSome(token.idToken))
      const claims = Option.getOrThrow(yield* IdToken.claims(token))
      assert.strictEqual(claims.sub, "1")
      assert.strictEqual(claims.iss, server.issuer)
      assert.strictEqual(claims.aud, server.client.clientId)
      assert.strictEqual(Redacted.value(claims.nonce!), sent)
      // Custom claims with the user's own schema.
      const custom = yield* IdToken.claims(token, Schema.Struct({ sub: Schema.String, auth_time: Schema.Number }))
      assert.strictEqual(Option.getOrThrow(custom).sub, "1")
      const wrong = yield* Effect.either(IdToken.claims(token, Schema.Struct({ email: Schema.String })))
      assert.isTrue(Either.isLeft(wrong) && wrong.left.reason === "Claims")
      // Nothing secret in the ID token's string forms.
      const jwt = Redacted.value(Option.getOrThrow(token.idToken))
      assert.notInclude(JSON.stringify(token), jwt)
      assert.notInclude(String(claims.nonce), sent!)
    }).pipe(Effect.provide(TestServer.layerInMemory())))

  it.effect("the ID token must carry its own transaction's nonce: another login's, or none, is refused", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      const provider = IdToken.openId(server.provider())
      const endpoint = yield* TokenEndpoint.make({ provider, client: server.client })
      const start = Authorization.start({ provider, client: server.client, redirectUri, scopes: Scopes.make("openid") })
      const exchange = (transaction: (started: Authorization.Started) => Authorization.Transaction) =>
        Effect.gen(function*() {
          const started = yield* start
          const callback = yield* server.authorize(started.url)
          return failedCheck(yield* Effect.exit(Authorization.complete(endpoint, transaction(started), callback)))
        })
      const another = yield* start
      // The callback and verifier of one login, the nonce of another: the code is exchanged, the ID token refused.
      assert.strictEqual(
        yield* exchange((started) =>
          new Authorization.Transaction({ ...started.transaction, nonce: another.transaction.nonce })
        ),
        "Nonce"
      )
      assert.strictEqual(
        yield* exchange((started) => new Authorization.Transaction({ ...started.transaction, nonce: Option.none() })),
        "Nonce"
      )
      assert.strictEqual(yield* exchange((started) => started.transaction), "succeeded")
      assert.strictEqual((yield* server.counters).tokenRequests.authorization_code.ok, 3)
    }).pipe(Effect.provide(TestServer.layerInMemory())))

  it.effect("a plain provider sends no nonce and keeps no ID token", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      const provider = server.provider()
      const endpoint = yield* TokenEndpoint.make({ provider, client: server.client })
      const started = yield* Authorization.start({
        provider,
        client: server.client,
        redirectUri,
        scopes: Scopes.make("openid")
      })
      assert.isFalse(new URL(started.url).searchParams.has("nonce"))
      const token = yield* Authorization.complete(endpoint, started.transaction, yield* server.authorize(started.url))
      assert.isTrue(Option.isNone(token.idToken))
    }).pipe(Effect.provide(TestServer.layerInMemory())))

  describe("every check refuses its broken ID token", () => {
    const cases: ReadonlyArray<readonly [NonNullable<TestServer.Switches["idTokenFault"]>, string]> = [
      ["badSignature", "Signature"],
      ["wrongAudience", "Audience"],
      ["wrongIssuer", "Issuer"],
      ["wrongNonce", "Nonce"],
      ["expired", "Expired"],
      ["unknownKid", "UnknownKey"],
      ["algNone", "Algorithm"],
      ["hs256PublicKey", "Algorithm"],
      ["multipleAudiencesNoAzp", "AuthorizedParty"],
      ["badAtHash", "AccessTokenHash"],
      ["badCodeHash", "CodeHash"]
    ]
    for (const [fault, check] of cases) {
      it.effect(`${fault} → ${check}`, () =>
        Effect.gen(function*() {
          assert.strictEqual(yield* faultCheck(fault), check)
        }).pipe(Effect.provide(TestServer.layerInMemory())))
    }

    it.effect("HS256 keyed with the public key fails its signature even when HS256 is allowed (the key is the client secret)", () =>
      Effect.gen(function*() {
        assert.strictEqual(
          yield* faultCheck("hs256PublicKey", { algorithms: [...IdToken.defaultAlgorithms, "HS256"] }),
          "Signature"
        )
      }).pipe(Effect.provide(TestServer.layerInMemory())))

    it.effect("a login whose token response has no id_token is refused (Missing)", () =>
      Effect.gen(function*() {
        assert.strictEqual(failedCheck(yield* Effect.exit(signIn({}, Scopes.make("profile")))), "Missing")
      }).pipe(Effect.provide(TestServer.layerInMemory())))

    it.effect("the error names the check and carries no token or nonce", () =>
      Effect.gen(function*() {
        const server = yield* TestServer.TestServer
        yield* server.configure({ idTokenFault: "wrongNonce" })
        const error = yield* Effect.flip(signIn())
        assert.strictEqual(error._tag, "@effect-oauth/IdTokenError")
        assert.include(error.message, "Nonce")
        assert.notInclude(JSON.stringify(error), "not-the-nonce-that-was-sent")
        assert.notInclude(error.message, "not-the-nonce-that-was-sent")
      }).pipe(Effect.provide(TestServer.layerInMemory())))
  })

  describe("time", () => {
    it.effect("iat in the future beyond the skew is refused; a wider skew accepts it", () =>
      Effect.gen(function*() {
        const server = yield* TestServer.TestServer
        yield* server.configure({ clockOffsetSeconds: 120 })
        assert.strictEqual(failedCheck(yield* Effect.exit(signIn())), "IssuedAt")
        assert.strictEqual(failedCheck(yield* Effect.exit(signIn({ clockSkew: "180 seconds" }))), "succeeded")
      }).pipe(Effect.provide(TestServer.layerInMemory())))

    it.effect("max_age is sent, and an auth_time older than it is refused", () =>
      Effect.gen(function*() {
        const server = yield* TestServer.TestServer
        const { started } = yield* signIn({ maxAge: "60 seconds" })
        assert.strictEqual(new URL(started.url).searchParams.get("max_age"), "60")
        yield* server.configure({ clockOffsetSeconds: -600, idTokenLifetimeSeconds: 3600 })
        assert.strictEqual(failedCheck(yield* Effect.exit(signIn({ maxAge: "60 seconds" }))), "AuthTime")
        assert.strictEqual(failedCheck(yield* Effect.exit(signIn())), "succeeded")
      }).pipe(Effect.provide(TestServer.layerInMemory())))

    it.effect("exp in the past is refused without skew; the default 60 s skew accepts 31 s", () =>
      Effect.gen(function*() {
        const server = yield* TestServer.TestServer
        // The server's clock runs 31 s behind: its 30-second ID tokens arrive expired.
        yield* server.configure({ idTokenLifetimeSeconds: 30, clockOffsetSeconds: -31 })
        assert.strictEqual(failedCheck(yield* Effect.exit(signIn({ clockSkew: 0 }))), "Expired")
        assert.strictEqual(failedCheck(yield* Effect.exit(signIn())), "succeeded")
      }).pipe(Effect.provide(TestServer.layerInMemory())))
  })

  describe("JWKS", () => {
    it.effect("is fetched once and cached across logins", () =>
      Effect.gen(function*() {
        const server = yield* TestServer.TestServer
        const provider = IdToken.openId(server.provider())
        const once = (p: Provider.Provider<string>) =>
          Effect.gen(function*() {
            const endpoint = yield* TokenEndpoint.make({ provider: p, client: server.client })
            const started = yield* Authorization.start({
              provider: p,
              client: server.client,
              redirectUri,
              scopes: Scopes.make("openid")
            })
            return yield* Authorization.complete(endpoint, started.transaction, yield* server.authorize(started.url))
          })
        yield* once(provider)
        yield* once(provider)
        yield* once(provider)
        assert.strictEqual((yield* server.counters).jwksRequests, 1)
      }).pipe(Effect.provide(TestServer.layerInMemory())))

    it.effect("a rotated key (unknown kid) is fetched again once after the cool-down; unknown kids stay bounded", () =>
      Effect.gen(function*() {
        const server = yield* TestServer.TestServer
        const provider = IdToken.openId(server.provider())
        const login = Effect.gen(function*() {
          const endpoint = yield* TokenEndpoint.make({ provider, client: server.client })
          const started = yield* Authorization.start({
            provider,
            client: server.client,
            redirectUri,
            scopes: Scopes.make("openid")
          })
          return yield* Authorization.complete(endpoint, started.transaction, yield* server.authorize(started.url))
        })
        yield* login
        yield* server.rotateSigningKey()
        yield* TestClock.adjust(Duration.seconds(31))
        yield* login
        assert.strictEqual((yield* server.counters).jwksRequests, 2)
        // Tokens naming keys nobody published: one more read after the cool-down, then none.
        yield* server.configure({ idTokenFault: "unknownKid" })
        yield* TestClock.adjust(Duration.seconds(31))
        for (let i = 0; i < 5; i++) assert.strictEqual(failedCheck(yield* Effect.exit(login)), "UnknownKey")
        assert.strictEqual((yield* server.counters).jwksRequests, 3)
      }).pipe(Effect.provide(TestServer.layerInMemory())))
  })

  describe("refresh (§12.2)", () => {
    it.effect("a new ID token passes the same checks and keeps iss, sub and aud", () =>
      Effect.gen(function*() {
        const server = yield* TestServer.TestServer
        const { endpoint, token } = yield* signIn()
        const refreshToken = Option.getOrThrow(token.refreshToken)
        yield* TestClock.adjust(Duration.seconds(5))
        const refreshed = yield* endpoint.request(Grant.RefreshToken(refreshToken), { previous: token })
        assert.isTrue(Option.isSome(refreshed.idToken))
        assert.notStrictEqual(
          Redacted.value(Option.getOrThrow(refreshed.idToken)),
          Redacted.value(Option.getOrThrow(token.idToken))
        )
        assert.strictEqual(Option.getOrThrow(yield* IdToken.claims(refreshed)).sub, "1")

        yield* server.configure({ idTokenFault: "otherSubject" })
        const next = Option.getOrThrow(refreshed.refreshToken)
        const changed = yield* Effect.exit(endpoint.request(Grant.RefreshToken(next), {
          previous: refreshed
        }))
        assert.strictEqual(failedCheck(changed), "Subject")
      }).pipe(Effect.provide(TestServer.layerInMemory())))

    it.effect("a refreshed ID token with a wrong audience or signature is refused", () =>
      Effect.gen(function*() {
        const server = yield* TestServer.TestServer
        const { endpoint, token } = yield* signIn()
        yield* server.configure({ idTokenFault: "badSignature" })
        const exit = yield* Effect.exit(
          endpoint.request(Grant.RefreshToken(Option.getOrThrow(token.refreshToken)), {
            previous: token
          })
        )
        assert.strictEqual(failedCheck(exit), "Signature")
      }).pipe(Effect.provide(TestServer.layerInMemory())))
  })

  it.effect("discovery reads jwks_uri, userinfo, introspection, end_session and PAR metadata", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      yield* server.configure({ requirePushedAuthorizationRequests: true })
      const provider = yield* Discovery.discover(server.issuer)
      assert.strictEqual(provider.jwksUri, server.jwksUri)
      assert.strictEqual(provider.userinfoEndpoint, server.userinfoEndpoint)
      assert.strictEqual(provider.introspectionEndpoint, server.introspectionEndpoint)
      assert.strictEqual(provider.endSessionEndpoint, server.endSessionEndpoint)
      assert.strictEqual(provider.pushedAuthorizationRequestEndpoint, server.pushedAuthorizationRequestEndpoint)
      // The server requires pushed requests: the discovered provider pushes every login.
      assert.isDefined(provider.extensions?.pushedAuthorization)
      assert.include(provider.dpopSigningAlgValuesSupported ?? [], "ES256")
    }).pipe(Effect.provide(TestServer.layerInMemory())))

  it.effect("logoutUrl names the client, the ID token hint, the return address and the state", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      const { provider, token } = yield* signIn()
      const url = new URL(
        yield* IdToken.logoutUrl(provider, {
          clientId: server.client.clientId,
          token,
          postLogoutRedirectUri: redirectUri,
          state: "s"
        })
      )
      assert.strictEqual(`${url.origin}${url.pathname}`, server.endSessionEndpoint)
      assert.strictEqual(url.searchParams.get("id_token_hint"), Redacted.value(Option.getOrThrow(token.idToken)))
      const none = IdToken.logoutUrl({ ...provider, endSessionEndpoint: undefined }, { clientId: "c" })
      assert.isTrue(Either.isLeft(none))
    }).pipe(Effect.provide(TestServer.layerInMemory())))
})
