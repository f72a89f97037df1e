/**
 * DPoP (RFC 9449): tokens bound to a key pair of the client. Every token request and every API call
 * carries a fresh proof (`htm`, `htu`, `iat`, `jti`, and `ath` with an access token) signed with the
 * private key, which in browsers is non-extractable; a server's `DPoP-Nonce` is kept per origin and
 * put in the next proofs, and a `use_dpop_nonce` refusal is retried once with it. A token whose
 * `token_type` is `DPoP` is accepted only when the provider has this extension, and is never sent
 * as a Bearer token; its refresh token is bound to the same key.
 *
 * The refresh token is worth no more than the key: a program that keeps its tokens across restarts
 * must keep the key too — on a server, a private JWK made once with {@link generateJwk}, kept as a
 * secret and read back with {@link importKey}; in a browser, the {@link KeyPair} itself in
 * IndexedDB (its non-extractable `CryptoKey` survives the structured clone). A refresh with another
 * key is refused by the server (`invalid_grant`): the client drops the token and asks for a new
 * login (`ReauthorizationRequired`), once.
 *
 * @since 0.1.0
 */
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import type { CryptoKey, JWK } from "jose"
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT } from "jose"
import { randomString } from "./internal/crypto.js"
import { discard } from "./internal/http.js"
import { importPrivateJwk } from "./internal/privateJwk.js"
import { ConfigurationError, TokenRequestError } from "./OAuthError.js"
import { challenge } from "./Pkce.js"
import type { Provider } from "./Provider.js"

/**
 * A DPoP key pair: the private key signs proofs; the public JWK goes in each proof's header, and its
 * thumbprint is what the server binds tokens to.
 *
 * @since 0.1.0
 * @category models
 */
export interface KeyPair {
  readonly alg: string
  readonly privateKey: CryptoKey
  readonly publicJwk: JWK
  /** The RFC 7638 SHA-256 thumbprint of the public key (`jkt`, `dpop_jkt`). */
  readonly thumbprint: string
}

/**
 * The DPoP extension of a provider (see `Provider.Extensions`), built by {@link make}.
 *
 * @since 0.1.0
 * @category models
 */
export interface Extension {
  readonly key: KeyPair
  /** A proof for one request; `accessToken` adds its `ath` (for resource requests). */
  readonly proof: (
    method: string,
    url: string,
    accessToken?: Redacted.Redacted<string> | undefined
  ) => Effect.Effect<string, ConfigurationError>
  /** Keeps the `DPoP-Nonce` a response from `url` carries, for the next proofs to its origin. */
  readonly observe: (url: string, headers: Readonly<Record<string, string | undefined>>) => Effect.Effect<void>
  /**
   * Sends a token request to `url` with a fresh proof in the headers given to `send`; a
   * `use_dpop_nonce` refusal (RFC 9449 §8) is sent once more with a proof carrying the server's nonce.
   */
  readonly tokenRequest: <A, E>(
    url: string,
    send: (headers: Record<string, string>) => Effect.Effect<A, E>
  ) => Effect.Effect<A, E | ConfigurationError>
  /**
   * Sends a resource request with a DPoP-bound access token (`Authorization: DPoP` and a proof with
   * `ath`, never as a Bearer token); a 401 `use_dpop_nonce` (RFC 9449 §9) is sent once more with
   * the server's nonce.
   */
  readonly resourceRequest: <E>(
    request: HttpClientRequest.HttpClientRequest,
    accessToken: Redacted.Redacted<string>,
    execute: (request: HttpClientRequest.HttpClientRequest) => Effect.Effect<HttpClientResponse.HttpClientResponse, E>
  ) => Effect.Effect<HttpClientResponse.HttpClientResponse, E | ConfigurationError>
}

const invalid = (detail: string) => new ConfigurationError({ reason: "InvalidOption", detail })

/**
 * The algorithms of DPoP keys made here.
 *
 * @since 0.1.0
 * @category models
 */
export type Algorithm = "ES256" | "ES384" | "PS256" | "RS256" | "EdDSA"

const keyPairOf = (alg: string, privateKey: CryptoKey, publicJwk: JWK): Promise<KeyPair> =>
  calculateJwkThumbprint(publicJwk).then((thumbprint) => ({ alg, privateKey, publicJwk, thumbprint }))

/**
 * A fresh key pair (default `ES256`); the private key is not extractable, so script on the page can
 * use it but never read it. It lives as long as the process (or as long as you keep it: see the
 * module's note on restarts).
 *
 * @since 0.1.0
 * @category constructors
 */
export const generateKey = (alg: Algorithm = "ES256"): Effect.Effect<KeyPair, ConfigurationError> =>
  Effect.tryPromise({
    try: async (): Promise<KeyPair> => {
      const pair = await generateKeyPair(alg, { extractable: false })
      const { alg: _alg, ...publicJwk } = await exportJWK(pair.publicKey)
      return keyPairOf(alg, pair.privateKey, publicJwk)
    },
    catch: () => invalid(`WebCrypto cannot generate a ${alg} DPoP key here`)
  })

/**
 * A new private key (default `ES256`) as JWK JSON text, to keep as a secret (a file only the
 * program can read, a secret store) and load with {@link importKey} on every start, so tokens bound
 * to it survive restarts.
 *
 * @since 0.1.0
 * @category constructors
 */
export const generateJwk = (alg: Algorithm = "ES256"): Effect.Effect<Redacted.Redacted<string>, ConfigurationError> =>
  Effect.tryPromise({
    try: async () => {
      const pair = await generateKeyPair(alg, { extractable: true })
      return Redacted.make(JSON.stringify({ ...(await exportJWK(pair.privateKey)), alg }))
    },
    catch: () => invalid(`WebCrypto cannot generate a ${alg} DPoP key here`)
  })

/**
 * The key pair of a kept private JWK (JSON text, e.g. read with `Config.redacted("DPOP_PRIVATE_JWK")`):
 * the same key, so the same thumbprint, on every start. The private key is imported non-extractable;
 * the algorithm is the JWK's `alg`, else the usual one of its key type. A JWK that is not a private
 * asymmetric key fails with a `ConfigurationError` (`InvalidOption`), without quoting it.
 *
 * @since 0.1.0
 * @category constructors
 */
export const importKey = (
  privateJwk: Redacted.Redacted<string>,
  alg?: Algorithm | undefined
): Effect.Effect<KeyPair, ConfigurationError> =>
  Effect.flatMap(importPrivateJwk(privateJwk, "the DPoP key", alg), (imported) =>
    Effect.tryPromise({
      try: () => keyPairOf(imported.alg, imported.key, imported.publicJwk),
      catch: () => invalid("the DPoP key's public members give no thumbprint")
    }))

// RFC 9449 §4.2: htu is the URL without query and fragment.
const htuOf = (url: string): string => {
  const parsed = new URL(url)
  return `${parsed.origin}${parsed.pathname}`
}

const originOf = (url: string): string => {
  try {
    return new URL(url).origin
  } catch {
    return url
  }
}

// A client talks to few servers; the table of nonces is bounded all the same.
const maxOrigins = 32

/**
 * The extension for a key pair.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (key: KeyPair): Extension => {
  const nonces = new Map<string, string>()
  const proof: Extension["proof"] = (method, url, accessToken) =>
    Effect.gen(function*() {
      const iat = Math.floor((yield* Clock.currentTimeMillis) / 1000)
      const jti = yield* randomString(16)
      const nonce = nonces.get(originOf(url))
      const ath = accessToken === undefined ?
        undefined :
        yield* challenge(accessToken)
      return yield* Effect.tryPromise({
        try: () =>
          new SignJWT({
            htm: method.toUpperCase(),
            htu: htuOf(url),
            ...(ath === undefined ? {} : { ath }),
            ...(nonce === undefined ? {} : { nonce })
          })
            .setProtectedHeader({ alg: key.alg, typ: "dpop+jwt", jwk: key.publicJwk })
            .setJti(jti)
            .setIssuedAt(iat)
            .sign(key.privateKey),
        catch: () => invalid(`the DPoP proof could not be signed with ${key.alg}`)
      })
    })
  const observe: Extension["observe"] = (url, headers) =>
    Effect.sync(() => {
      const nonce = headers["dpop-nonce"]
      if (nonce === undefined || nonce.length === 0) return
      const origin = originOf(url)
      nonces.delete(origin)
      if (nonces.size >= maxOrigins) nonces.delete(nonces.keys().next().value ?? "")
      nonces.set(origin, nonce)
    })
  return {
    key,
    proof,
    observe,
    tokenRequest: (url, send) => {
      const once = Effect.flatMap(proof("POST", url), (dpop) => send({ dpop }))
      return Effect.catchIf(
        once,
        (e) => e instanceof TokenRequestError && e.reason === "ErrorResponse" && e.error === "use_dpop_nonce",
        () => once
      )
    },
    resourceRequest: (request, accessToken, execute) => {
      const once = proof(request.method, request.url, accessToken).pipe(
        Effect.flatMap((dpop) =>
          execute(HttpClientRequest.setHeaders(request, {
            authorization: `DPoP ${Redacted.value(accessToken)}`,
            dpop
          }))
        ),
        Effect.tap((response) => observe(request.url, response.headers))
      )
      return Effect.flatMap(
        once,
        (response) =>
          response.status === 401 && /use_dpop_nonce/.test(response.headers["www-authenticate"] ?? "")
            ? Effect.zipRight(discard(response), once)
            : Effect.succeed(response)
      )
    }
  }
}

/**
 * The provider with DPoP on, with `key`: token requests carry proofs, `token_type: DPoP` is accepted,
 * and `AuthorizedHttpClient` sends `Authorization: DPoP` with a proof per request.
 *
 * @since 0.1.0
 * @category constructors
 */
export const bind = <P extends Provider<string>>(provider: P, key: KeyPair): P => ({
  ...provider,
  extensions: { ...provider.extensions, dpop: make(key) }
})
