/**
 * A private key kept as a JWK in JSON text (`Redacted`: read with `Config.redacted`, or from a file
 * only the client can read), imported as a non-extractable `CryptoKey`, with its algorithm (the
 * JWK's `alg`, else the usual one for its key type), its `kid` and its public members. The JWK's
 * text never appears in an error. Used by `ClientAssertion` (`private_key_jwt`) and `Dpop`.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import type { CryptoKey, JWK } from "jose"
import { importJWK } from "jose"
import { ConfigurationError } from "../OAuthError.js"

/** @internal */
export interface Imported {
  readonly key: CryptoKey
  readonly alg: string
  readonly kid: string | undefined
  /** The public members of the key (`kty`, `crv`, `x`, `y`, `n`, `e`). */
  readonly publicJwk: JWK
}

const publicMembers = ["kty", "crv", "x", "y", "n", "e"] as const

/** The usual algorithm of a key type when the JWK names none. @internal */
export const defaultAlgorithm = (jwk: JWK): string =>
  jwk.kty === "EC"
    ? jwk.crv === "P-384" ? "ES384" : jwk.crv === "P-521" ? "ES512" : "ES256"
    : jwk.kty === "OKP"
    ? "EdDSA"
    : "RS256"

/** Imports `text`, a private JWK; `what` names the key in errors ("the DPoP key"). @internal */
export const importPrivateJwk = (
  text: Redacted.Redacted<string>,
  what: string,
  alg?: string | undefined
): Effect.Effect<Imported, ConfigurationError> =>
  Effect.suspend(() => {
    const invalid = (detail: string) => new ConfigurationError({ reason: "InvalidOption", detail: `${what} ${detail}` })
    let jwk: JWK
    try {
      jwk = JSON.parse(Redacted.value(text)) as JWK
    } catch {
      return Effect.fail(invalid("is not a JWK in JSON"))
    }
    if (typeof jwk !== "object" || jwk === null || typeof jwk.kty !== "string" || jwk.d === undefined) {
      return Effect.fail(invalid("is not a private JWK"))
    }
    const algorithm = alg ?? jwk.alg ?? defaultAlgorithm(jwk)
    return Effect.tryPromise({
      try: () => importJWK(jwk, algorithm, { extractable: false }),
      catch: () => invalid(`cannot be imported for ${algorithm}`)
    }).pipe(
      Effect.flatMap((key) =>
        key instanceof Uint8Array
          ? Effect.fail(invalid("must be an asymmetric private key, not a symmetric JWK"))
          : Effect.succeed({
            key,
            alg: algorithm,
            kid: jwk.kid,
            publicJwk: Object.fromEntries(
              publicMembers.flatMap((name) => jwk[name] === undefined ? [] : [[name, jwk[name]]])
            ) as JWK
          })
      )
    )
  })
