/**
 * Signed client assertions (RFC 7523 §2.2, OpenID Connect Core §9): the client proves itself with
 * a short-lived JWT instead of sending its secret — `private_key_jwt` (signed with the client's
 * private key) or `client_secret_jwt` (an HMAC keyed with the client secret). A fresh assertion is
 * signed for every attempt (a new `jti`, `exp` a minute away, `aud` the provider's issuer or token
 * endpoint), so a retried request never replays one.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type { CryptoKey } from "jose"
import { SignJWT } from "jose"
import type { ClientConfig } from "./ClientConfig.js"
import { randomString } from "./internal/crypto.js"
import { importPrivateJwk } from "./internal/privateJwk.js"
import { ConfigurationError } from "./OAuthError.js"
import type { Provider } from "./Provider.js"

/**
 * The `client_assertion_type` of a JWT assertion (RFC 7523 §2.2).
 *
 * @since 0.1.0
 * @category constants
 */
export const assertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

/**
 * A client-assertion method (see `Provider.Extensions`): how the token endpoint authenticates one
 * request in place of `client_secret_basic` / `client_secret_post`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Extension {
  readonly method: "private_key_jwt" | "client_secret_jwt"
  /**
   * The headers and form of one request of `client` to `provider`: `form` with `client_id`,
   * `client_assertion_type` and a freshly signed `client_assertion` (its audience: {@link audienceOf}),
   * and no secret.
   */
  readonly authenticate: (
    client: ClientConfig,
    provider: Provider<string>,
    form: ReadonlyArray<readonly [string, string]>
  ) => Effect.Effect<
    { readonly headers: Record<string, string>; readonly form: ReadonlyArray<readonly [string, string]> },
    ConfigurationError
  >
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** How long an assertion is valid (default 60 seconds). */
  readonly lifetime?: Duration.DurationInput | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface PrivateKeyOptions extends Options {
  /** The signing algorithm (default: the JWK's `alg`, else `ES256`/`ES384`/`ES512` by an EC key's curve, `EdDSA` for Ed25519, else `RS256`). */
  readonly alg?: string | undefined
  /** The key id registered with the provider (default: the JWK's `kid`). */
  readonly kid?: string | undefined
}

const invalid = (detail: string) => new ConfigurationError({ reason: "InvalidOption", detail })

const sign = (
  client: ClientConfig,
  provider: Provider<string>,
  form: ReadonlyArray<readonly [string, string]>,
  header: { readonly alg: string; readonly kid?: string | undefined },
  key: CryptoKey | Uint8Array,
  lifetimeSeconds: number
) =>
  Effect.gen(function*() {
    const now = Math.floor((yield* Clock.currentTimeMillis) / 1000)
    const jti = yield* randomString(16)
    const jwt = yield* Effect.tryPromise({
      try: () =>
        new SignJWT({})
          .setProtectedHeader({ alg: header.alg, typ: "JWT", ...(header.kid === undefined ? {} : { kid: header.kid }) })
          .setIssuer(client.clientId)
          .setSubject(client.clientId)
          .setAudience(audienceOf(provider))
          .setJti(jti)
          .setIssuedAt(now)
          .setExpirationTime(now + lifetimeSeconds)
          .sign(key),
      catch: () => invalid(`the client assertion could not be signed with ${header.alg}: check the key and algorithm`)
    })
    const members: ReadonlyArray<readonly [string, string]> = [
      ["client_id", client.clientId],
      ["client_assertion_type", assertionType],
      ["client_assertion", jwt]
    ]
    return { headers: {}, form: [...form, ...members] }
  })

const algorithmOf = (key: CryptoKey): string => {
  const name = key.algorithm.name
  if (name === "ECDSA") {
    const curve = (key.algorithm as EcKeyAlgorithm).namedCurve
    return curve === "P-384" ? "ES384" : curve === "P-521" ? "ES512" : "ES256"
  }
  if (name === "Ed25519") return "EdDSA"
  return name === "RSA-PSS" ? "PS256" : "RS256"
}

/**
 * `private_key_jwt`: assertions signed with the client's private key — a `CryptoKey`, or a private
 * JWK as JSON text kept `Redacted` (read with {@link privateKeyConfig}). The JWK is imported on
 * first use and never appears in an error.
 *
 * @since 0.1.0
 * @category constructors
 */
export const privateKeyJwt = (
  key: CryptoKey | Redacted.Redacted<string>,
  options: PrivateKeyOptions = {}
): Extension => {
  const lifetime = Math.max(1, Math.floor(Duration.toSeconds(options.lifetime ?? Duration.seconds(60))))
  let imported: { readonly key: CryptoKey; readonly alg: string; readonly kid: string | undefined } | undefined
  const load = Effect.suspend(() => {
    if (imported !== undefined) return Effect.succeed(imported)
    if (!Redacted.isRedacted(key)) {
      imported = { key, alg: options.alg ?? algorithmOf(key), kid: options.kid }
      return Effect.succeed(imported)
    }
    return Effect.map(
      importPrivateJwk(key, "the client's private key", options.alg),
      (jwk) => (imported = { key: jwk.key, alg: jwk.alg, kid: options.kid ?? jwk.kid })
    )
  })
  return {
    method: "private_key_jwt",
    authenticate: (client, provider, form) =>
      Effect.flatMap(load, (k) => sign(client, provider, form, { alg: k.alg, kid: k.kid }, k.key, lifetime))
  }
}

/**
 * `client_secret_jwt`: assertions with an HMAC (default `HS256`) keyed with the client secret, which
 * itself is never sent.
 *
 * @since 0.1.0
 * @category constructors
 */
export const clientSecretJwt = (
  options: Options & { readonly alg?: "HS256" | "HS384" | "HS512" | undefined } = {}
): Extension => {
  const lifetime = Math.max(1, Math.floor(Duration.toSeconds(options.lifetime ?? Duration.seconds(60))))
  return {
    method: "client_secret_jwt",
    authenticate: (client, provider, form) =>
      Option.match(client.clientSecret, {
        onNone: () => Effect.fail(invalid("client_secret_jwt needs a client secret, and this client has none")),
        onSome: (secret) =>
          sign(
            client,
            provider,
            form,
            { alg: options.alg ?? "HS256" },
            new TextEncoder().encode(Redacted.value(secret)),
            lifetime
          )
      })
  }
}

/**
 * The provider with its clients authenticating by `extension` at its token endpoint (and wherever
 * else the token endpoint's client authentication is used: revocation, introspection, PAR).
 *
 * @since 0.1.0
 * @category constructors
 */
export const use = <P extends Provider<string>>(provider: P, extension: Extension): P => ({
  ...provider,
  extensions: { ...provider.extensions, clientAssertion: extension }
})

/**
 * The audience of an assertion for `provider`: its issuer when it has one (what current guidance
 * asks for), else its token endpoint (RFC 7523 §3).
 *
 * @since 0.1.0
 * @category getters
 */
export const audienceOf = (provider: Provider<string>): string =>
  Option.getOrElse(provider.issuer, () => provider.tokenEndpoint)

/**
 * Reads a private JWK (JSON text) from configuration as a `Redacted`, e.g. `OIDC_PRIVATE_JWK`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const privateKeyConfig = (name: string, options?: PrivateKeyOptions): Config.Config<Extension> =>
  Config.map(Config.redacted(name), (jwk) => privateKeyJwt(jwk, options))
