/**
 * The OpenID Connect and modern-spec side of the test server: the signing key (made per server
 * start, rotatable), ID tokens with fault switches, DPoP proof verification (RFC 9449) with nonces
 * and replay detection, and client-assertion verification (RFC 7523). Everything signs and
 * verifies with `jose`; only the deliberately broken tokens (`alg: none`) are put together by hand.
 *
 * @internal
 */
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import type { CryptoKey, JWK, JWTPayload } from "jose"
import {
  base64url,
  calculateJwkThumbprint,
  decodeProtectedHeader,
  EmbeddedJWK,
  exportJWK,
  generateKeyPair,
  importJWK,
  jwtVerify,
  SignJWT
} from "jose"

/** What may be wrong with the ID tokens the server issues. @internal */
export type IdTokenFault =
  | "badSignature"
  | "wrongAudience"
  | "wrongIssuer"
  | "wrongNonce"
  | "expired"
  | "unknownKid"
  | "algNone"
  | "hs256PublicKey"
  | "multipleAudiencesNoAzp"
  | "badAtHash"
  | "badCodeHash"
  | "otherSubject"

interface SigningKey {
  readonly kid: string
  readonly privateKey: CryptoKey
  readonly publicJwk: JWK
}

// The server's time is the Clock's (TestClock drives it); jose wants it as a Date.
const dateOf = (seconds: number) => DateTime.toDateUtc(DateTime.unsafeMake(seconds * 1000))

const randomId = (bytes = 12) => base64url.encode(crypto.getRandomValues(new Uint8Array(bytes)))

const newKey = async (): Promise<SigningKey> => {
  const pair = await generateKeyPair("RS256", { extractable: true })
  const kid = randomId(6)
  const publicJwk = { ...(await exportJWK(pair.publicKey)), kid, alg: "RS256", use: "sig" }
  return { kid, privateKey: pair.privateKey, publicJwk }
}

const leftHalfHash = async (value: string) => {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(value)))
  return base64url.encode(digest.slice(0, 16))
}

/** @internal */
export const makeSigner = () => {
  // Made on first use, so a server that never signs costs no key generation.
  let current: Promise<SigningKey> | undefined
  let retired: Array<SigningKey> = []
  const key = () => (current ??= newKey())

  const jwks = Effect.promise(async () => {
    const active = await key()
    return { keys: [active.publicJwk, ...retired.map((k) => k.publicJwk)] }
  })

  const rotate = Effect.promise(async () => {
    const previous = await key()
    // The old key stays published for tokens signed before the rotation (bounded to two).
    retired = [previous]
    current = newKey()
    await current
  })

  const sign = (
    claims: JWTPayload & { readonly access_token?: string | undefined; readonly code?: string | undefined },
    fault: IdTokenFault | null
  ) =>
    Effect.promise(async () => {
      const { access_token, code, ...rest } = claims
      const payload: JWTPayload = { ...rest }
      if (access_token !== undefined) payload.at_hash = await leftHalfHash(access_token)
      if (code !== undefined) payload.c_hash = await leftHalfHash(code)
      switch (fault) {
        case "wrongAudience":
          payload.aud = "someone-else"
          break
        case "wrongIssuer":
          payload.iss = "https://evil.example"
          break
        case "wrongNonce":
          payload.nonce = "not-the-nonce-that-was-sent"
          break
        case "expired":
          payload.exp = (payload.iat ?? 0) - 3600
          payload.iat = (payload.iat ?? 0) - 7200
          break
        case "multipleAudiencesNoAzp":
          payload.aud = [String(payload.aud), "another-audience"]
          break
        case "badAtHash":
          payload.at_hash = await leftHalfHash("another access token")
          break
        case "badCodeHash":
          payload.c_hash = await leftHalfHash("another code")
          break
        case "otherSubject":
          payload.sub = "2"
          break
      }
      const active = await key()
      if (fault === "algNone") {
        const header = base64url.encode(JSON.stringify({ alg: "none", typ: "JWT" }))
        return `${header}.${base64url.encode(JSON.stringify(payload))}.`
      }
      if (fault === "hs256PublicKey") {
        // The classic key-confusion attack: an HMAC keyed with the bytes of the published public key.
        return new SignJWT(payload).setProtectedHeader({ alg: "HS256", kid: active.kid, typ: "JWT" }).sign(
          new TextEncoder().encode(JSON.stringify(active.publicJwk))
        )
      }
      if (fault === "unknownKid") {
        const stranger = await newKey()
        return new SignJWT(payload).setProtectedHeader({ alg: "RS256", kid: stranger.kid, typ: "JWT" }).sign(
          stranger.privateKey
        )
      }
      const jwt = await new SignJWT(payload).setProtectedHeader({ alg: "RS256", kid: active.kid, typ: "JWT" }).sign(
        active.privateKey
      )
      if (fault !== "badSignature") return jwt
      const [header, body, signature] = jwt.split(".")
      const bytes = base64url.decode(signature!)
      bytes[0] = bytes[0]! ^ 0xff
      return `${header}.${body}.${base64url.encode(bytes)}`
    })

  return { jwks, rotate, sign }
}

/** A DPoP proof that passed, or why it did not. @internal */
export type DpopResult =
  | { readonly _tag: "Valid"; readonly jkt: string }
  | { readonly _tag: "Invalid"; readonly detail: string }
  | { readonly _tag: "UseNonce" }

/** @internal */
export const makeDpop = () => {
  // jti values seen within the acceptance window; older ones are dropped as time moves on.
  const seen = new Map<string, number>()
  let nonce = randomId()
  const windowSeconds = 300

  const verify = (
    proof: string | undefined,
    expected: {
      readonly method: string
      readonly url: URL
      readonly nowSeconds: number
      readonly accessToken?: string | undefined
      readonly requireNonce: boolean
    }
  ) =>
    Effect.promise(async (): Promise<DpopResult> => {
      if (proof === undefined) return { _tag: "Invalid", detail: "a DPoP proof is required" }
      let result: Awaited<ReturnType<typeof jwtVerify>>
      try {
        result = await jwtVerify(proof, EmbeddedJWK, {
          typ: "dpop+jwt",
          algorithms: ["ES256", "ES384", "RS256", "PS256", "EdDSA"],
          currentDate: dateOf(expected.nowSeconds)
        })
      } catch {
        return { _tag: "Invalid", detail: "the DPoP proof does not verify" }
      }
      const { payload, protectedHeader } = result
      const htu = `${expected.url.origin}${expected.url.pathname}`
      if (payload.htm !== expected.method || payload.htu !== htu) {
        return { _tag: "Invalid", detail: "htm or htu does not match the request" }
      }
      const iat = payload.iat
      if (typeof iat !== "number" || Math.abs(expected.nowSeconds - iat) > windowSeconds) {
        return { _tag: "Invalid", detail: "iat is outside the acceptance window" }
      }
      if (typeof payload.jti !== "string" || payload.jti.length < 8) return { _tag: "Invalid", detail: "jti missing" }
      for (const [jti, at] of seen) if (at < expected.nowSeconds - windowSeconds) seen.delete(jti)
      if (seen.has(payload.jti)) return { _tag: "Invalid", detail: "the DPoP proof was already used (replay)" }
      if (expected.requireNonce && payload.nonce !== nonce) return { _tag: "UseNonce" }
      if (expected.accessToken !== undefined) {
        const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(expected.accessToken))
        if (payload.ath !== base64url.encode(new Uint8Array(digest))) {
          return { _tag: "Invalid", detail: "ath does not match the access token" }
        }
      }
      seen.set(payload.jti, iat)
      return { _tag: "Valid", jkt: await calculateJwkThumbprint(protectedHeader.jwk!) }
    })

  return {
    verify,
    nonce: () => nonce,
    rotateNonce: () => {
      nonce = randomId()
    }
  }
}

/** The client-assertion type of RFC 7523. @internal */
export const assertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

/**
 * Verifies a client assertion: `iss` = `sub` = the client, `aud` the issuer or the token endpoint,
 * `exp` at most 5 minutes away, a `jti` never seen before.
 *
 * @internal
 */
export const makeAssertions = () => {
  const seen = new Map<string, number>()
  const verify = (
    assertion: string,
    expected: {
      readonly clientId: string
      readonly audiences: ReadonlyArray<string>
      readonly nowSeconds: number
      readonly secret: string
      readonly publicJwk: JWK | null
    }
  ) =>
    Effect.promise(async (): Promise<boolean> => {
      try {
        const hmac = String(decodeProtectedHeader(assertion).alg).startsWith("HS")
        const key = hmac
          ? new TextEncoder().encode(expected.secret)
          : expected.publicJwk === null
          ? undefined
          : await importJWK(expected.publicJwk, expected.publicJwk.alg ?? "ES256")
        if (key === undefined) return false
        const { payload } = await jwtVerify(assertion, key, {
          issuer: expected.clientId,
          subject: expected.clientId,
          audience: [...expected.audiences],
          currentDate: dateOf(expected.nowSeconds),
          requiredClaims: ["exp", "jti"]
        })
        if ((payload.exp ?? 0) - expected.nowSeconds > 300) return false
        for (const [jti, exp] of seen) if (exp < expected.nowSeconds) seen.delete(jti)
        if (typeof payload.jti !== "string" || seen.has(payload.jti)) return false
        seen.set(payload.jti, payload.exp ?? 0)
        return true
      } catch {
        return false
      }
    })
  return { verify }
}
