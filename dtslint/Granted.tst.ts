import type { Granted } from "@effect-oauth/core"
import { AuthorizedHttpClient, OAuthClient, Scopes, TokenStore } from "@effect-oauth/core"
import * as ClientConfig from "@effect-oauth/core/ClientConfig"
import * as Provider from "@effect-oauth/core/Provider"
import * as Osu from "@effect-oauth/core/providers/Osu"
import * as Spotify from "@effect-oauth/core/providers/Spotify"
import { BrowserOAuth } from "@effect-oauth/platform-browser"
import { NodeOAuth } from "@effect-oauth/platform-node"
import type { HttpClient } from "@effect/platform"
import { Effect, Layer, Redacted } from "effect"
import { describe, expect, test } from "tstyche"

const client = ClientConfig.make({ clientId: "1", clientSecret: Redacted.make("s") })
const run = <E>(effect: Effect.Effect<unknown, E, HttpClient.HttpClient>) => effect

class OsuApi extends AuthorizedHttpClient.Tag("OsuApi")<OsuApi>() {}
class SpotifyApi extends AuthorizedHttpClient.Tag("SpotifyApi")<SpotifyApi>() {}

const osuChat = Effect.flatMap(OsuApi, (http) => http.get("/chat")).pipe(
  AuthorizedHttpClient.requireScopes(Osu.provider, "chat.write")
)
const osuPublic = Effect.flatMap(OsuApi, (http) => http.get("/me")).pipe(
  AuthorizedHttpClient.requireScopes(Osu.provider, "public")
)

describe("Granted is keyed by provider", () => {
  test("the need names the provider", () => {
    expect<Effect.Effect.Context<typeof osuPublic>>().type.toBe<OsuApi | Granted.Granted<Osu.Osu, "public">>()
    expect<Granted.Granted<Osu.Osu, "public">>().type.not.toBeAssignableTo<Granted.Granted<Spotify.Spotify, "public">>()
    expect<Granted.Granted<Spotify.Spotify, "public">>().type.not.toBeAssignableTo<Granted.Granted<Osu.Osu, "public">>()
  })

  test("covariant in the scopes: a client holding more satisfies a need of fewer", () => {
    // A need is met when it is assignable to what a layer provides.
    expect<Granted.Granted<Osu.Osu, "public">>().type.toBeAssignableTo<
      Granted.Granted<Osu.Osu, "public" | "identify">
    >()
    expect<Granted.Granted<Osu.Osu, "public" | "identify">>().type.not.toBeAssignableTo<
      Granted.Granted<Osu.Osu, "public">
    >()
  })

  test("an osu! requirement is not satisfied by a Spotify layer, whatever scopes it holds", () => {
    // A user's Spotify session may hold any Spotify scope; none of them is osu!'s.
    const spotify = Layer.mergeAll(
      OsuApi.layer({ provider: Osu.provider, client, session: OAuthClient.clientCredentials(Scopes.make("public")) }),
      SpotifyApi.layer({ provider: Spotify.provider, client, session: OAuthClient.user() })
    ).pipe(Layer.provide(TokenStore.layerMemory))
    expect(run(Effect.provide(osuChat, spotify))).type.toRaiseError(`Granted<Osu, "chat.write">`)
  })

  test("nor by a layer of a provider whose scopes are any string", () => {
    // Its user session may hold any string scope, "chat.write" included: only the key tells them apart.
    const generic = Provider.make({ name: "generic", tokenEndpoint: "https://auth.example/token" })
    const layer = OsuApi.layer({ provider: generic, client, session: OAuthClient.user() }).pipe(
      Layer.provide(TokenStore.layerMemory)
    )
    expect(run(Effect.provide(osuChat, layer))).type.toRaiseError(`Granted<Osu, "chat.write">`)
  })

  test("the osu! layer holding the scope satisfies it, beside a Spotify layer", () => {
    const both = Layer.mergeAll(
      OsuApi.layer({
        provider: Osu.provider,
        client,
        session: OAuthClient.clientCredentials(Scopes.make("delegate", "chat.write"))
      }),
      SpotifyApi.layer({ provider: Spotify.provider, client, session: OAuthClient.user() })
    ).pipe(Layer.provide(TokenStore.layerMemory))
    expect(run(Effect.provide(osuChat, both))).type.not.toRaiseError()
    const reader = OsuApi.layer({
      provider: Osu.provider,
      client,
      session: OAuthClient.clientCredentials(Scopes.make("public"))
    }).pipe(Layer.provide(TokenStore.layerMemory))
    expect(run(Effect.provide(osuPublic, reader))).type.not.toRaiseError()
    expect(run(Effect.provide(osuChat, reader))).type.toRaiseError(`Granted<Osu, "chat.write">`)
  })

  test("OAuthClient.layer provides the keyed form", () => {
    const _layer = OAuthClient.layer({
      provider: Spotify.provider,
      client,
      session: OAuthClient.clientCredentials(Scopes.empty)
    })
    expect<Layer.Layer.Success<typeof _layer>>().type.toBe<
      OAuthClient.OAuthClient | Granted.Granted<Spotify.Spotify, never>
    >()
  })
})

describe("NodeOAuth.layer provides Granted for its scopes option", () => {
  const post = Effect.succeed(1).pipe(AuthorizedHttpClient.requireScopes(Osu.provider, "chat.write"))
  const read = Effect.succeed(1).pipe(AuthorizedHttpClient.requireScopes(Osu.provider, "public"))
  const identify = Effect.succeed(1).pipe(AuthorizedHttpClient.requireScopes(Osu.provider, "identify"))
  const asking = NodeOAuth.layer({ provider: Osu.provider, client, scopes: Scopes.make("public", "chat.read") })

  test("what the login asks for, plus what osu!'s grant implies", () => {
    expect<Extract<Layer.Layer.Success<typeof asking>, Granted.Granted<Osu.Osu, string>>>().type.toBe<
      Granted.Granted<Osu.Osu, "public" | "chat.read" | "identify">
    >()
    expect(Effect.provide(read, asking)).type.not.toRaiseError()
    expect(Effect.provide(identify, asking)).type.not.toRaiseError()
  })

  test("a scope the login does not ask for stays unprovided", () => {
    const _needs = Effect.provide(post, asking)
    expect<Effect.Effect.Context<typeof _needs>>().type.toBe<Granted.Granted<Osu.Osu, "chat.write">>()
  })

  test("without scopes, the provider's defaults (osu!: identify)", () => {
    const defaults = NodeOAuth.layer({ provider: Osu.provider, client })
    const _reads = Effect.provide(read, defaults)
    expect<Effect.Effect.Context<typeof _reads>>().type.toBe<Granted.Granted<Osu.Osu, "public">>()
    const _identifies = Effect.provide(identify, defaults)
    expect<Effect.Effect.Context<typeof _identifies>>().type.toBe<never>()
  })

  test("scopes known only at run time may be any of the provider's", () => {
    const parsed: Scopes.ScopeSet<Osu.OsuScope> = Scopes.make("public")
    const _posts = Effect.provide(post, NodeOAuth.layer({ provider: Osu.provider, client, scopes: parsed }))
    expect<Effect.Effect.Context<typeof _posts>>().type.toBe<never>()
  })

  test("BrowserOAuth.layer likewise", () => {
    const spa = BrowserOAuth.layer({
      provider: Spotify.provider,
      client,
      redirectUri: "https://app.example/callback",
      scopes: Scopes.make("user-read-email")
    })
    const email = Effect.succeed(1).pipe(AuthorizedHttpClient.requireScopes(Spotify.provider, "user-read-email"))
    const playlists = Effect.succeed(1).pipe(
      AuthorizedHttpClient.requireScopes(Spotify.provider, "playlist-modify-private")
    )
    const _email = Effect.provide(email, spa)
    expect<Effect.Effect.Context<typeof _email>>().type.toBe<never>()
    const _playlists = Effect.provide(playlists, spa)
    expect<Effect.Effect.Context<typeof _playlists>>().type.toBe<
      Granted.Granted<Spotify.Spotify, "playlist-modify-private">
    >()
  })
})
