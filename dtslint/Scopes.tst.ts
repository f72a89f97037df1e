import type { Granted } from "@effect-oauth/core"
import type { Provider } from "@effect-oauth/core"
import { AuthorizedHttpClient, Discovery, OAuthClient, ScopeRules, Scopes, TokenStore } from "@effect-oauth/core"
import * as ClientConfig from "@effect-oauth/core/ClientConfig"
import * as Osu from "@effect-oauth/core/providers/Osu"
import * as Spotify from "@effect-oauth/core/providers/Spotify"
import type { TestServer } from "@effect-oauth/testing"
import type { HttpClient } from "@effect/platform"
import { Effect, Layer, Redacted } from "effect"
import { describe, expect, test } from "tstyche"

const client = ClientConfig.make({ clientId: "1", clientSecret: Redacted.make("s") })

describe("granted scopes", () => {
  test("an osu! client-credentials client asking for public has ScopeSet<\"public\">", () => {
    const _service = OAuthClient.make({
      provider: Osu.provider,
      client,
      session: OAuthClient.clientCredentials(Scopes.make("public"))
    })
    expect<Effect.Effect.Success<typeof _service>["scopes"]>().type.toBe<
      Effect.Effect<Scopes.ScopeSet<"public">, OAuthClient.OAuthClientError>
    >()
    expect<Effect.Effect.Success<typeof _service>["scopes"]>().type.not.toBe<
      Effect.Effect<Scopes.ScopeSet<string>, OAuthClient.OAuthClientError>
    >()
  })

  test("a user's session may hold any of the provider's scopes", () => {
    const _service = OAuthClient.make({ provider: Osu.provider, client, session: OAuthClient.user() })
    expect<Effect.Effect.Success<typeof _service>["scopes"]>().type.toBe<
      Effect.Effect<Scopes.ScopeSet<Osu.OsuScope>, OAuthClient.OAuthClientError>
    >()
    expect<Effect.Effect.Success<typeof _service>["scopes"]>().type.not.toBe<
      Effect.Effect<Scopes.ScopeSet<"public">, OAuthClient.OAuthClientError>
    >()
  })
})

describe("requireScopes", () => {
  const request = Effect.succeed(1)

  test("accepts the provider's scope names", () => {
    expect(request.pipe(AuthorizedHttpClient.requireScopes(Osu.provider, "chat.write"))).type.not.toRaiseError()
    expect(AuthorizedHttpClient.requireScopes(Spotify.provider, "user-read-email")).type.not.toRaiseError()
  })

  test("a typo in a scope name is a compile error", () => {
    expect(AuthorizedHttpClient.requireScopes(Osu.provider, "chat.wrte")).type.toRaiseError(
      `Argument of type '"chat.wrte"' is not assignable to parameter of type`
    )
    expect(AuthorizedHttpClient.requireScopes(Spotify.provider, "public")).type.toRaiseError()
  })

  test("the need enters the effect's type", () => {
    const _needsChat = request.pipe(AuthorizedHttpClient.requireScopes(Osu.provider, "chat.write", "delegate"))
    expect<Effect.Effect.Context<typeof _needsChat>>().type.toBe<
      Granted.Granted<Osu.Osu, "chat.write"> | Granted.Granted<Osu.Osu, "delegate">
    >()
    expect<Effect.Effect.Context<typeof _needsChat>>().type.not.toBe<never>()
  })
})

describe("running an effect against a client", () => {
  const chatBot = AuthorizedHttpClient.layer().pipe(
    Layer.provideMerge(
      OAuthClient.layer({
        provider: Osu.provider,
        client,
        session: OAuthClient.clientCredentials(Scopes.make("delegate", "chat.write"))
      })
    ),
    Layer.provide(TokenStore.layerMemory)
  )
  const reader = AuthorizedHttpClient.layer().pipe(
    Layer.provideMerge(
      OAuthClient.layer({
        provider: Osu.provider,
        client,
        session: OAuthClient.clientCredentials(Scopes.make("public"))
      })
    ),
    Layer.provide(TokenStore.layerMemory)
  )
  const post = Effect.flatMap(AuthorizedHttpClient.AuthorizedHttpClient, (http) => http.get("/chat")).pipe(
    AuthorizedHttpClient.requireScopes(Osu.provider, "chat.write")
  )
  const run = <E>(effect: Effect.Effect<unknown, E, HttpClient.HttpClient>) => effect

  test("a client that can hold the scope runs it", () => {
    expect(run(Effect.provide(post, chatBot))).type.not.toRaiseError()
  })

  test("a client that cannot hold the scope is a compile error", () => {
    expect(run(Effect.provide(post, reader))).type.toRaiseError(`Granted<Osu, "chat.write">`)
  })
})

describe("osu!'s impossible combinations", () => {
  test("delegation scopes with delegate compile", () => {
    expect(OAuthClient.layer({
      provider: Osu.provider,
      client,
      session: OAuthClient.clientCredentials(Scopes.make("delegate", "chat.write"))
    })).type.not.toRaiseError()
  })

  test("public with delegate is a compile error naming the rule", () => {
    expect(OAuthClient.layer({
      provider: Osu.provider,
      client,
      session: OAuthClient.clientCredentials(Scopes.make("public", "delegate"))
    })).type.toRaiseError(`"osu.delegation-only-delegable"`)
  })

  test("* with client credentials is a compile error naming the rule", () => {
    expect(OAuthClient.layer({
      provider: Osu.provider,
      client,
      session: OAuthClient.clientCredentials(Scopes.make("*"))
    })).type.toRaiseError(`"osu.client-credentials-no-star"`)
  })

  test("chat.write without delegate is a compile error", () => {
    expect(OAuthClient.layer({
      provider: Osu.provider,
      client,
      session: OAuthClient.clientCredentials(Scopes.make("chat.write"))
    })).type.toRaiseError(`"osu.delegation-requires-delegate"`)
  })

  test("an unknown scope and an empty request are compile errors", () => {
    expect(OAuthClient.layer({
      provider: Osu.provider,
      client,
      session: OAuthClient.clientCredentials(Scopes.make("publik"))
    })).type.toRaiseError(`"unknown-scope"`)
    expect(OAuthClient.layer({
      provider: Osu.provider,
      client,
      session: OAuthClient.clientCredentials(Scopes.empty)
    })).type.toRaiseError(`"explicit-scopes-required"`)
  })

  test("Spotify's client credentials with a user scope is a compile error; without scopes it compiles", () => {
    expect(OAuthClient.layer({
      provider: Spotify.provider,
      client,
      session: OAuthClient.clientCredentials(Scopes.make("user-read-email"))
    })).type.toRaiseError(`"spotify.client-credentials-no-user-scopes"`)
    expect(OAuthClient.layer({
      provider: Spotify.provider,
      client,
      session: OAuthClient.clientCredentials(Scopes.empty)
    })).type.not.toRaiseError()
  })

  test("scopes only known at run time are left to the run-time check", () => {
    const parsed: Scopes.ScopeSet<Osu.OsuScope> = Scopes.make("public")
    expect(OAuthClient.layer({
      provider: Osu.provider,
      client,
      session: OAuthClient.clientCredentials(parsed)
    })).type.not.toRaiseError()
  })
})

describe("a discovered provider keeps the scopes and rules it is given", () => {
  const acme = {
    known: ["reports.read", "reports.write"],
    grants: { ClientCredentials: { explicit: true } },
    constraints: [
      ScopeRules.forbidden({
        name: "acme.no-write-for-clients",
        grants: ["ClientCredentials"],
        scopes: ["reports.write"]
      })
    ]
  } as const satisfies ScopeRules.ScopeRules<string>
  const discovered = Discovery.discover("https://auth.example.com", { scopeRules: acme })

  test("it is a Provider<S, Rules>", () => {
    expect<Effect.Effect.Success<typeof discovered>>().type.toBe<
      Provider.Provider<"reports.read" | "reports.write", typeof acme>
    >()
    expect<Effect.Effect.Success<typeof discovered>>().type.not.toBe<Provider.Provider<string>>()
  })

  test("without rules it is a Provider<string>", () => {
    expect<Effect.Effect.Success<ReturnType<typeof Discovery.discover>>>().type.toBe<Provider.Provider<string>>()
  })

  test("a typo in one of its scopes is a compile error", () => {
    expect(Effect.map(discovered, (provider) => AuthorizedHttpClient.requireScopes(provider, "reports.read")))
      .type.not.toRaiseError()
    expect(Effect.map(discovered, (provider) => AuthorizedHttpClient.requireScopes(provider, "reports.reed")))
      .type.toRaiseError(`Argument of type '"reports.reed"' is not assignable to parameter of type`)
  })

  test("a request its rules refuse is a compile error naming the rule", () => {
    expect(Effect.map(discovered, (provider) =>
      OAuthClient.layer({
        provider,
        client,
        session: OAuthClient.clientCredentials(Scopes.make("reports.read"))
      }))).type.not.toRaiseError()
    expect(Effect.map(discovered, (provider) =>
      OAuthClient.layer({
        provider,
        client,
        session: OAuthClient.clientCredentials(Scopes.make("reports.write"))
      }))).type.toRaiseError(`"acme.no-write-for-clients"`)
  })
})

describe("a test server's provider for a preset", () => {
  const server = {} as TestServer.TestServer.Service

  test("server.provider(Osu.make) keeps the preset's type; server.provider() is a plain one", () => {
    expect(server.provider(Osu.make)).type.toBe<Provider.Provider<Osu.OsuScope, typeof Osu.rules>>()
    expect(server.provider(Spotify.make, { name: "spotify-test" })).type.toBe<
      Provider.Provider<Spotify.SpotifyScope, typeof Spotify.rules>
    >()
    expect(server.provider()).type.toBe<Provider.Provider<string>>()
  })

  test("so its rules still refuse a literal request at compile time", () => {
    expect(OAuthClient.layer({
      provider: server.provider(Osu.make),
      client,
      session: OAuthClient.clientCredentials(Scopes.make("*"))
    })).type.toRaiseError(`"osu.client-credentials-no-star"`)
  })
})
