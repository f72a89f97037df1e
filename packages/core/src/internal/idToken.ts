/**
 * The checks of an ID token (OIDC Core §3.1.3.7, §3.1.3.8, §3.2.2.9, §12.2), in the order the spec
 * gives them. `jose` verifies the signature and the registered time claims; the rest is here. Every
 * failure names its check and none quotes a claim that could be a secret (the nonce).
 *
 * @internal
 */
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type { CryptoKey, JWSHeaderParameters, JWTPayload } from "jose"
import { decodeProtectedHeader, jwtVerify } from "jose"
import type { ConfigurationError, TokenRequestError } from "../OAuthError.js"
import { base64Url } from "./crypto.js"
import type { KeyProblem } from "./jwks.js"

/** @internal */
export type Check =
  | "Missing"
  | "Malformed"
  | "Algorithm"
  | "Keys"
  | "UnknownKey"
  | "Signature"
  | "Issuer"
  | "Audience"
  | "AuthorizedParty"
  | "Expired"
  | "IssuedAt"
  | "NotBefore"
  | "Nonce"
  | "AuthTime"
  | "AccessTokenHash"
  | "CodeHash"
  | "Subject"
  | "Claims"

/** @internal */
export interface Failure {
  readonly _tag: "Failure"
  readonly check: Check
  readonly detail: string
}

const fail = (check: Check, detail: string) => Effect.fail<Failure>({ _tag: "Failure", check, detail })

/** @internal */
export interface Expected {
  readonly issuer: string
  readonly clientId: string
  readonly clientSecret: Option.Option<Redacted.Redacted<string>>
  readonly algorithms: ReadonlyArray<string>
  readonly skewSeconds: number
  /** Epoch milliseconds, from the Clock. */
  readonly now: number
  /** The login's nonce; a token's nonce is compared with it whenever either is there. */
  readonly nonce: Option.Option<Redacted.Redacted<string>>
  readonly nonceRequired: boolean
  readonly maxAgeSeconds: Option.Option<number>
  readonly accessToken: Option.Option<Redacted.Redacted<string>>
  readonly code: Option.Option<Redacted.Redacted<string>>
  /** The claims of the ID token a refresh replaces: `iss`, `sub` and `aud` must stay. */
  readonly previous: Option.Option<JWTPayload>
  readonly key: (
    header: JWSHeaderParameters
  ) => Effect.Effect<CryptoKey, KeyProblem | TokenRequestError | ConfigurationError>
}

const audiences = (payload: JWTPayload): ReadonlyArray<string> =>
  typeof payload.aud === "string" ? [payload.aud] : Array.isArray(payload.aud) ? payload.aud : []

const hashOf = (alg: string): string | undefined => {
  if (alg === "EdDSA" || alg === "Ed25519") return "SHA-512"
  const bits = /(256|384|512)$/.exec(alg)?.[1]
  return bits === undefined ? undefined : `SHA-${bits}`
}

// at_hash / c_hash: base64url of the left half of the hash of the value's ASCII octets (§3.1.3.6).
const leftHalfHash = (alg: string, value: string) =>
  Effect.promise(async () => {
    const digest = new Uint8Array(await crypto.subtle.digest(hashOf(alg) ?? "SHA-256", new TextEncoder().encode(value)))
    return base64Url(digest.slice(0, digest.length / 2))
  })

const sameString = (a: string, b: string): boolean => {
  let difference = a.length ^ b.length
  for (let i = 0; i < Math.max(a.length, b.length); i++) difference |= (a.charCodeAt(i) | 0) ^ (b.charCodeAt(i) | 0)
  return difference === 0
}

const fromJose = (error: unknown): Failure => {
  const code = typeof error === "object" && error !== null && "code" in error ? String(error.code) : ""
  const claim = typeof error === "object" && error !== null && "claim" in error ? String(error.claim) : ""
  const failure = (check: Check, detail: string): Failure => ({ _tag: "Failure", check, detail })
  switch (code) {
    case "ERR_JWS_SIGNATURE_VERIFICATION_FAILED":
      return failure("Signature", "the signature does not verify with the provider's key")
    case "ERR_JOSE_ALG_NOT_ALLOWED":
      return failure("Algorithm", "the signing algorithm is not allowed")
    case "ERR_JWT_EXPIRED":
      return failure("Expired", "exp is in the past, beyond the allowed clock skew")
    case "ERR_JWT_CLAIM_VALIDATION_FAILED":
      switch (claim) {
        case "iss":
          return failure("Issuer", "iss is not the provider's issuer")
        case "aud":
          return failure("Audience", "aud does not contain this client's id")
        case "nbf":
          return failure("NotBefore", "nbf is in the future, beyond the allowed clock skew")
        case "iat":
          return failure("IssuedAt", "iat is missing or not a number")
        default:
          return failure("Claims", `the ${claim || "required"} claim is missing or malformed`)
      }
    case "ERR_JWS_INVALID":
    case "ERR_JWT_INVALID":
      return failure("Malformed", "the token is not a signed JWT with a JSON claims set")
    default:
      // A key that does not fit the algorithm (an RSA key for HS256, say) is refused by WebCrypto.
      return failure("Signature", "the provider's key cannot verify this token's algorithm")
  }
}

/** Runs every check; the claims when all pass. @internal */
export const verify = (
  jwt: Redacted.Redacted<string>,
  expected: Expected
): Effect.Effect<JWTPayload, Failure | TokenRequestError | ConfigurationError> =>
  Effect.gen(function*() {
    const compact = Redacted.value(jwt)
    if (compact.split(".").length !== 3) {
      return yield* fail(
        "Malformed",
        "an ID token is a signed JWT of three parts (encrypted ID tokens are not supported)"
      )
    }
    let header: JWSHeaderParameters
    try {
      header = decodeProtectedHeader(compact)
    } catch {
      return yield* fail("Malformed", "the JOSE header is not base64url JSON")
    }
    const alg = header.alg
    // `none` and anything not allowed stop here, before a key is looked up.
    if (typeof alg !== "string" || alg === "none" || !expected.algorithms.includes(alg)) {
      return yield* fail(
        "Algorithm",
        `the algorithm ${typeof alg === "string" ? alg : "(none)"} is not one of ${expected.algorithms.join(", ")}`
      )
    }
    // An HMAC is only ever keyed with the client secret (§10.1), never with a key from the JWKS.
    let key: CryptoKey | Uint8Array
    if (alg.startsWith("HS")) {
      if (Option.isNone(expected.clientSecret)) {
        return yield* fail("Algorithm", `${alg} needs a client secret, and this client has none`)
      }
      key = new TextEncoder().encode(Redacted.value(expected.clientSecret.value))
    } else {
      key = yield* expected.key(header).pipe(
        Effect.catchIf(
          (error): error is KeyProblem => error._tag === "UnknownKey" || error._tag === "Keys",
          (problem) => fail(problem._tag, problem.detail)
        )
      )
    }
    const result = yield* Effect.tryPromise({
      try: () =>
        jwtVerify(compact, key, {
          algorithms: [alg],
          issuer: expected.issuer,
          audience: expected.clientId,
          clockTolerance: expected.skewSeconds,
          currentDate: DateTime.toDateUtc(DateTime.unsafeMake(expected.now)),
          requiredClaims: ["iss", "sub", "aud", "exp", "iat"]
        }),
      catch: fromJose
    })
    const payload = result.payload
    const nowSeconds = expected.now / 1000
    if (typeof payload.iat !== "number" || payload.iat > nowSeconds + expected.skewSeconds) {
      return yield* fail("IssuedAt", "iat is in the future, beyond the allowed clock skew")
    }
    const aud = audiences(payload)
    if ((aud.length > 1 || payload.azp !== undefined) && payload.azp !== expected.clientId) {
      return yield* fail("AuthorizedParty", "azp must be this client's id when there are several audiences")
    }
    const nonce = payload.nonce
    if (nonce !== undefined || expected.nonceRequired) {
      if (
        typeof nonce !== "string" || Option.isNone(expected.nonce) ||
        !sameString(nonce, Redacted.value(expected.nonce.value))
      ) {
        return yield* fail("Nonce", "nonce is not the one this login sent")
      }
    }
    if (Option.isSome(expected.maxAgeSeconds)) {
      const authTime = payload.auth_time
      if (typeof authTime !== "number") return yield* fail("AuthTime", "auth_time is required when max_age is sent")
      if (authTime + expected.maxAgeSeconds.value < nowSeconds - expected.skewSeconds) {
        return yield* fail("AuthTime", "the user authenticated longer ago than max_age allows")
      }
    }
    for (
      const [claim, value, check] of [
        ["at_hash", expected.accessToken, "AccessTokenHash"],
        ["c_hash", expected.code, "CodeHash"]
      ] as const
    ) {
      const given = payload[claim]
      if (given === undefined || Option.isNone(value)) continue
      if (given !== (yield* leftHalfHash(alg, Redacted.value(value.value)))) {
        return yield* fail(check, `${claim} does not match the ${claim === "at_hash" ? "access token" : "code"}`)
      }
    }
    if (Option.isSome(expected.previous)) {
      const previous = expected.previous.value
      if (payload.iss !== previous.iss) return yield* fail("Issuer", "a refreshed ID token must keep iss")
      if (payload.sub !== previous.sub) return yield* fail("Subject", "a refreshed ID token must keep sub")
      const before = audiences(previous)
      if (aud.length !== before.length || aud.some((a) => !before.includes(a))) {
        return yield* fail("Audience", "a refreshed ID token must keep aud")
      }
    }
    return payload
  })
