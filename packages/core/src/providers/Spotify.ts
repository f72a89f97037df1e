/**
 * The Spotify Web API: endpoints, scopes as literal types, its scope rule (client credentials
 * carries no user scopes), lifetime and redirect-URI rules.
 *
 * @since 0.1.0
 * @module
 */
import * as Duration from "effect/Duration"
import * as Provider from "../Provider.js"
import type { ScopeRules } from "../ScopeRules.js"
import { forbidden } from "../ScopeRules.js"

/**
 * Every Spotify scope.
 *
 * @since 0.1.0
 * @category constants
 */
export const scopes = [
  "ugc-image-upload",
  "user-read-playback-state",
  "user-modify-playback-state",
  "user-read-currently-playing",
  "app-remote-control",
  "streaming",
  "playlist-read-private",
  "playlist-read-collaborative",
  "playlist-modify-private",
  "playlist-modify-public",
  "user-follow-modify",
  "user-follow-read",
  "user-read-playback-position",
  "user-top-read",
  "user-read-recently-played",
  "user-library-modify",
  "user-library-read",
  "user-read-email",
  "user-read-private"
] as const

/**
 * @since 0.1.0
 * @category models
 */
export type SpotifyScope = typeof scopes[number]

/**
 * Spotify's scope rules: every scope is a user scope, so client credentials asks for none.
 * Declared `as const` so the rule name keeps its literal type.
 *
 * @since 0.1.0
 * @category constants
 */
export const rules = {
  known: scopes,
  grants: {},
  constraints: [
    forbidden({ name: "spotify.client-credentials-no-user-scopes", grants: ["ClientCredentials"], scopes: "all" })
  ]
} as const satisfies ScopeRules<SpotifyScope>

/**
 * Whether Spotify accepts a redirect URI: `https`, or `http` on a literal loopback IP
 * (`127.0.0.1` or `[::1]`); the name `localhost` is refused.
 *
 * @since 0.1.0
 * @category validation
 */
export const isAllowedRedirectUri = (uri: string): boolean => {
  try {
    const url = new URL(uri)
    // Spotify refuses the name `localhost` whatever the scheme: only the literal loopback IPs.
    if (url.hostname === "localhost") return false
    return url.protocol === "https:" || (url.protocol === "http:" && ["127.0.0.1", "[::1]"].includes(url.hostname))
  } catch {
    return false
  }
}

/**
 * The type of the Spotify provider, its identity in `Granted`: `Granted.Granted<Spotify.Spotify, "…">`
 * is a need only a client of this provider satisfies (a preset made with other endpoints, by
 * {@link make}, has the same type).
 *
 * @since 0.1.0
 * @category models
 */
export type Spotify = Provider.Provider<SpotifyScope, typeof rules>

/**
 * What a test or a proxy may change in the preset.
 *
 * @since 0.1.0
 * @category models
 */
export type MakeOptions = Provider.Overrides

/**
 * The Spotify provider, with {@link MakeOptions} applied (a test server's endpoints, say).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (overrides?: MakeOptions) => Spotify = Provider.preset<
  SpotifyScope,
  typeof rules
>({
  name: "spotify",
  // No `iss` is sent today; with the issuer known, one sent later is checked, not refused (RFC 9207).
  issuer: "https://accounts.spotify.com",
  authorizationEndpoint: "https://accounts.spotify.com/authorize",
  tokenEndpoint: "https://accounts.spotify.com/api/token",
  apiBaseUrl: "https://api.spotify.com/v1",
  clientAuthentication: "client_secret_basic",
  defaultTokenLifetime: Duration.seconds(3600),
  scopeRules: rules,
  // "Right after a refresh the API occasionally answers 401 for the new token" (BEHAVIOUR.md §7).
  unauthorizedGracePeriod: Duration.millis(500)
})

/**
 * The Spotify provider at accounts.spotify.com.
 *
 * @since 0.1.0
 * @category constructors
 */
export const provider: Spotify = make()
