/**
 * The authorization server's logic, independent of any transport: a request in (method, URL,
 * headers, body), a response out. Both transports of `TestServer` run it, so what a test sees over
 * real sockets and in memory is the same server.
 *
 * State is plain mutable data touched only synchronously between yields, so concurrent requests
 * (JavaScript runs one at a time) cannot interleave inside a check-and-update.
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import type { JWK } from "jose"
import * as Oidc from "./oidc.js"

/** @internal */
export type Flavour = "standard" | "osu" | "spotify"

/** @internal */
export type ClientAuthenticationRequirement = "any" | "client_secret_basic" | "client_secret_post"

/** @internal */
export interface Switches {
  accessTokenLifetimeSeconds: number | null
  refreshTokenLifetimeSeconds: number | null
  rotateRefreshTokens: boolean
  latencyMillis: number
  denyAuthorization: boolean
  issParameter: boolean
  flavour: Flavour
  requiredScopes: ReadonlyArray<string>
  requireClientAuthentication: ClientAuthenticationRequirement
  clockOffsetSeconds: number
  deviceCodeIntervalSeconds: number
  deviceCodeLifetimeSeconds: number
  redirectUris: ReadonlyArray<string>
  cors: boolean
  idTokenLifetimeSeconds: number
  idTokenFault: Oidc.IdTokenFault | null
  userinfoSubject: string | null
  requirePushedAuthorizationRequests: boolean
  requireDpop: boolean
  dpopNonce: boolean
  clientPublicJwk: JWK | null
}

/** @internal */
export interface Fault {
  readonly path?: string | undefined
  readonly status?: number | undefined
  readonly body?: string | undefined
  readonly headers?: Readonly<Record<string, string>> | undefined
  readonly delayMillis?: number | undefined
  readonly dropConnection?: boolean | undefined
  readonly hang?: boolean | undefined
  readonly redirectTo?: string | undefined
  readonly afterProcessing?: boolean | undefined
}

/** @internal */
export interface Outcomes {
  ok: number
  error: number
}

/** @internal */
export interface TokenRequestCounters {
  readonly client_credentials: Outcomes
  readonly authorization_code: Outcomes
  readonly refresh_token: Outcomes
  readonly "urn:ietf:params:oauth:grant-type:device_code": Outcomes
  readonly [grantType: string]: Outcomes
}

/** @internal */
export interface Counters {
  readonly tokenRequests: TokenRequestCounters
  readonly invalidGrant: number
  readonly invalidClient: number
  readonly resourceRequests: Readonly<Record<string, number>>
  readonly meRequests: Readonly<Record<string, number>>
  readonly authorizationRequests: number
  readonly deviceAuthorizationRequests: number
  readonly revocations: number
  readonly faults: number
  readonly jwksRequests: number
  readonly userinfoRequests: number
  readonly introspections: number
  readonly pushedAuthorizationRequests: number
  readonly dpopRejections: number
  readonly clientAssertions: number
}

/** @internal */
export interface Request {
  readonly method: string
  readonly url: URL
  readonly headers: Readonly<Record<string, string | undefined>>
  readonly body: string
}

/** @internal */
export interface Answer {
  readonly _tag: "Response"
  readonly status: number
  readonly headers: Record<string, string>
  readonly body: string
}

/** @internal */
export type Response = Answer | { readonly _tag: "Drop" }

/** @internal */
export interface IssueOptions {
  readonly scopes?: ReadonlyArray<string> | undefined
  readonly lifetimeSeconds?: number | null | undefined
  readonly withRefreshToken?: boolean | undefined
  readonly clientId?: string | undefined
}

/** @internal */
export interface Issued {
  readonly accessToken: string
  readonly refreshToken: string | undefined
  readonly lifetime: number | null
  readonly scopes: ReadonlyArray<string>
}

interface Grant {
  readonly clientId: string
  readonly scopes: ReadonlyArray<string>
  /** OpenID Connect: the login's nonce and time, when `openid` was asked for. */
  readonly login: Login | undefined
  /** RFC 9449: the thumbprint of the DPoP key the grant's tokens are bound to. */
  readonly jkt: string | undefined
  /** `revokeAll` bumps the server's epoch instead of visiting every grant. */
  readonly epoch: number
  revoked: boolean
  /** Spent refresh tokens kept for reuse detection, oldest first (bounded). */
  readonly spent: Array<string>
}

interface Login {
  readonly nonce: string | undefined
  readonly authTime: number
}

interface AccessToken {
  readonly grant: Grant
  readonly scopes: ReadonlyArray<string>
  readonly issuedAt: number
  readonly expiresAt: number | null
  revoked: boolean
}

interface RefreshToken {
  readonly grant: Grant
  readonly access: AccessToken
  readonly expiresAt: number | null
  used: boolean
}

interface Code {
  readonly clientId: string
  readonly redirectUri: string
  readonly challenge: string
  readonly scopes: ReadonlyArray<string>
  readonly expiresAt: number
  readonly login: Login | undefined
  used: boolean
  grant: Grant | undefined
}

interface Pushed {
  readonly clientId: string
  readonly params: URLSearchParams
  readonly expiresAt: number
}

interface Device {
  readonly clientId: string
  readonly userCode: string
  readonly scopes: ReadonlyArray<string>
  readonly expiresAt: number
  status: "pending" | "approved" | "denied"
  interval: number
  lastPoll: number | null
}

/** The device-code grant type of RFC 8628. @internal */
export const deviceCodeGrantType = "urn:ietf:params:oauth:grant-type:device_code"

const base64Url = (bytes: Uint8Array): string => {
  let binary = ""
  for (const byte of bytes) binary += String.fromCharCode(byte)
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "")
}

/** `bytes` random bytes (default 32: 256 bits), base64url. @internal */
export const randomToken = (bytes = 32): string => base64Url(crypto.getRandomValues(new Uint8Array(bytes)))

// RFC 8628 §6.1: consonants only, so a user code never spells a word and survives case changes.
const userCodeAlphabet = "BCDFGHJKLMNPQRSTVWXZ"

const randomUserCode = (): string => {
  let code = ""
  // 240 is the largest multiple of 20 under 256: rejecting the rest keeps the draw unbiased.
  for (let round = 0; round < 8 && code.length < 8; round++) {
    for (const byte of crypto.getRandomValues(new Uint8Array(16))) {
      if (byte < 240 && code.length < 8) code += userCodeAlphabet[byte % 20]
    }
  }
  return `${code.slice(0, 4)}-${code.slice(4, 8)}`
}

const normalizeUserCode = (code: string) => code.toUpperCase().replace(/[^A-Z]/g, "")

const sha256Base64Url = (input: string) =>
  Effect.promise(() => crypto.subtle.digest("SHA-256", new TextEncoder().encode(input))).pipe(
    Effect.map((digest) => base64Url(new Uint8Array(digest)))
  )

const json = (status: number, body: unknown, headers: Record<string, string> = {}): Answer => ({
  _tag: "Response",
  status,
  headers: { "content-type": "application/json", "cache-control": "no-store", ...headers },
  body: JSON.stringify(body)
})

const text = (status: number, body: string, headers: Record<string, string> = {}): Answer => ({
  _tag: "Response",
  status,
  headers: { "content-type": "text/plain; charset=utf-8", ...headers },
  body
})

// RFC 6749 §2.3.1: the id and secret are form-encoded before Basic encoding.
const formDecode = (value: string): string | null => {
  try {
    return decodeURIComponent(value.replace(/\+/g, " "))
  } catch {
    return null
  }
}

const scopesOf = (value: string | null): ReadonlyArray<string> =>
  value === null ? [] : value.split(" ").filter((s) => s.length > 0)

const hasDuplicates = (params: URLSearchParams) => {
  const seen = new Set<string>()
  for (const key of params.keys()) {
    if (seen.has(key)) return true
    seen.add(key)
  }
  return false
}

const verifierPattern = /^[A-Za-z0-9\-._~]{43,128}$/
const challengePattern = /^[A-Za-z0-9_-]{43}$/

/** The confidential client's id. @internal */
export const confidentialClientId = "test-client"
/** The public (PKCE-only) client's id. @internal */
export const publicClientId = "test-public-client"
/** A secret that needs RFC 6749 §2.3.1 form-encoding in Basic authentication. @internal */
export const initialSecret = "s3cr:t%+é"
/** The subject of the server's one user. @internal */
export const subject = "1"

/** @internal */
export const defaultSwitches: Switches = {
  accessTokenLifetimeSeconds: 3600,
  refreshTokenLifetimeSeconds: null,
  rotateRefreshTokens: true,
  latencyMillis: 0,
  denyAuthorization: false,
  issParameter: false,
  flavour: "standard",
  requiredScopes: [],
  requireClientAuthentication: "any",
  clockOffsetSeconds: 0,
  deviceCodeIntervalSeconds: 5,
  deviceCodeLifetimeSeconds: 600,
  redirectUris: ["https://app.example.com/callback"],
  cors: true,
  idTokenLifetimeSeconds: 300,
  idTokenFault: null,
  userinfoSubject: null,
  requirePushedAuthorizationRequests: false,
  requireDpop: false,
  dpopNonce: false,
  clientPublicJwk: null
}

const emptyCounters = (): Counters => ({
  tokenRequests: {
    client_credentials: { ok: 0, error: 0 },
    authorization_code: { ok: 0, error: 0 },
    refresh_token: { ok: 0, error: 0 },
    [deviceCodeGrantType]: { ok: 0, error: 0 }
  },
  invalidGrant: 0,
  invalidClient: 0,
  resourceRequests: {},
  meRequests: {},
  authorizationRequests: 0,
  deviceAuthorizationRequests: 0,
  revocations: 0,
  faults: 0,
  jwksRequests: 0,
  userinfoRequests: 0,
  introspections: 0,
  pushedAuthorizationRequests: 0,
  dpopRejections: 0,
  clientAssertions: 0
})

type MutableCounters = { -readonly [K in keyof Counters]: Counters[K] } & {
  tokenRequests: Record<string, Outcomes>
  resourceRequests: Record<string, number>
  meRequests: Record<string, number>
}

/** The paths each endpoint answers on: its own, and the osu! and Spotify ones for presets. @internal */
export const paths = {
  token: ["/token", "/oauth/token", "/api/token"],
  authorize: ["/authorize", "/oauth/authorize"],
  revoke: ["/revoke", "/oauth/revoke"],
  deviceCode: ["/device/code"],
  jwks: "/jwks",
  userinfo: "/userinfo",
  introspect: "/introspect",
  par: "/par",
  endSession: "/logout"
} as const

const isOneOf = (list: ReadonlyArray<string>, path: string) => list.includes(path)

/** @internal */
export const make = (baseUrl: string, initial: Partial<Switches>) => {
  const switches: Switches = { ...defaultSwitches, ...initial }
  let secret = initialSecret
  let faults: Array<Fault> = []
  let counters = emptyCounters() as MutableCounters
  let epoch = 0
  let issuedSinceSweep = 0
  const accessTokens = new Map<string, AccessToken>()
  const refreshTokens = new Map<string, RefreshToken>()
  const codes = new Map<string, Code>()
  const devices = new Map<string, Device>()
  const pushed = new Map<string, Pushed>()
  const signer = Oidc.makeSigner()
  const dpop = Oidc.makeDpop()
  const assertions = Oidc.makeAssertions()

  const isRevoked = (grant: Grant) => grant.revoked || grant.epoch < epoch

  // Forgets what can no longer matter, so a long soak keeps the server's memory flat.
  const sweep = (at: number) => {
    issuedSinceSweep = 0
    for (const [key, access] of accessTokens) {
      if (access.revoked || isRevoked(access.grant) || (access.expiresAt !== null && access.expiresAt <= at)) {
        accessTokens.delete(key)
      }
    }
    for (const [key, refresh] of refreshTokens) {
      if (isRevoked(refresh.grant) || (refresh.expiresAt !== null && refresh.expiresAt <= at)) {
        refreshTokens.delete(key)
      }
    }
    for (const [key, code] of codes) if (code.expiresAt <= at) codes.delete(key)
    for (const [key, device] of devices) if (device.expiresAt <= at) devices.delete(key)
    for (const [key, request] of pushed) if (request.expiresAt <= at) pushed.delete(key)
  }

  const spend = (key: string, refresh: RefreshToken) => {
    refresh.used = true
    refresh.grant.spent.push(key)
    // Reuse detection remembers the last 1,000 spent tokens of a grant; older ones are simply unknown.
    if (refresh.grant.spent.length > 1000) {
      const oldest = refresh.grant.spent.shift()
      if (oldest !== undefined) refreshTokens.delete(oldest)
    }
  }

  const now = Effect.map(Clock.currentTimeMillis, (millis) => millis + switches.clockOffsetSeconds * 1000)

  const lifetimeToExpiry = (at: number, seconds: number | null) => seconds === null ? null : at + seconds * 1000

  const issue = (
    grant: Grant,
    at: number,
    options: {
      readonly scopes: ReadonlyArray<string>
      readonly withRefresh: boolean
      readonly lifetime: number | null
    }
  ): Issued => {
    if (++issuedSinceSweep >= 256) sweep(at)
    const accessToken = randomToken()
    const access: AccessToken = {
      grant,
      scopes: options.scopes,
      issuedAt: at,
      expiresAt: lifetimeToExpiry(at, options.lifetime),
      revoked: false
    }
    accessTokens.set(accessToken, access)
    let refreshToken: string | undefined
    if (options.withRefresh) {
      refreshToken = randomToken()
      refreshTokens.set(refreshToken, {
        grant,
        access,
        expiresAt: lifetimeToExpiry(at, switches.refreshTokenLifetimeSeconds),
        used: false
      })
    }
    return { accessToken, refreshToken, lifetime: options.lifetime, scopes: options.scopes }
  }

  const newGrant = (
    clientId: string,
    scopes: ReadonlyArray<string>,
    login?: Login | undefined,
    jkt?: string | undefined
  ): Grant => {
    return { clientId, scopes, login, jkt, epoch, revoked: false, spent: [] }
  }

  // OIDC Core §3.1.3.3: an ID token whenever the grant asked for `openid` (no nonce on a refresh).
  const idTokenOf = (grant: Grant, issued: Issued, at: number, withNonce: boolean, code?: string) => {
    if (!grant.scopes.includes("openid")) return Effect.succeed(undefined)
    const iat = Math.floor(at / 1000)
    const nonce = withNonce ? grant.login?.nonce : undefined
    return signer.sign({
      iss: baseUrl,
      sub: subject,
      aud: grant.clientId,
      iat,
      exp: iat + switches.idTokenLifetimeSeconds,
      auth_time: Math.floor((grant.login?.authTime ?? at) / 1000),
      ...(nonce === undefined ? {} : { nonce }),
      access_token: issued.accessToken,
      code
    }, switches.idTokenFault)
  }

  const tokenBody = (
    issued: Issued,
    extra: { readonly idToken?: string | undefined; readonly dpop?: boolean } = {}
  ) => ({
    access_token: issued.accessToken,
    token_type: extra.dpop === true ? "DPoP" : "Bearer",
    ...(extra.idToken === undefined ? {} : { id_token: extra.idToken }),
    ...(issued.lifetime === null ? {} : { expires_in: issued.lifetime }),
    ...(issued.refreshToken === undefined ? {} : { refresh_token: issued.refreshToken }),
    scope: issued.scopes.join(" ")
  })

  const countToken = (grantType: string, outcome: keyof Outcomes) => {
    const entry = counters.tokenRequests[grantType] ?? { ok: 0, error: 0 }
    entry[outcome]++
    counters.tokenRequests[grantType] = entry
  }

  const oauthError = (status: number, error: string, description?: string, headers?: Record<string, string>) =>
    json(status, { error, ...(description === undefined ? {} : { error_description: description }) }, headers)

  const invalidClient = (basic: boolean): Answer => {
    counters.invalidClient++
    return switches.flavour === "osu"
      ? json(401, {
        error: "invalid_client",
        error_description: "Client authentication failed",
        message: "Client authentication failed"
      })
      : oauthError(
        401,
        "invalid_client",
        "Client authentication failed.",
        basic ? { "www-authenticate": "Basic realm=\"test-server\"" } : {}
      )
  }

  type Caller =
    | { readonly _tag: "Client"; readonly id: string; readonly authenticated: boolean }
    | { readonly _tag: "Refused"; readonly answer: Answer }

  // RFC 6749 §2.3: Basic credentials, or client_id / client_secret in the body, never both.
  const authenticate = (request: Request, form: URLSearchParams): Caller => {
    const header = request.headers["authorization"]
    const bodyId = form.get("client_id")
    const bodySecret = form.get("client_secret")
    const refuse = (basic: boolean): Caller => ({ _tag: "Refused", answer: invalidClient(basic) })
    if (header !== undefined && /^basic /i.test(header)) {
      if (bodySecret !== null) {
        return {
          _tag: "Refused",
          answer: oauthError(400, "invalid_request", "Use one client authentication method, not two.")
        }
      }
      let decoded: string
      try {
        const binary = atob(header.slice(6).trim())
        decoded = new TextDecoder("utf-8", { fatal: true }).decode(Uint8Array.from(binary, (c) => c.charCodeAt(0)))
      } catch {
        return refuse(true)
      }
      const colon = decoded.indexOf(":")
      if (colon < 0) return refuse(true)
      const id = formDecode(decoded.slice(0, colon))
      const given = formDecode(decoded.slice(colon + 1))
      if (id !== confidentialClientId || given !== secret || (bodyId !== null && bodyId !== id)) return refuse(true)
      if (switches.requireClientAuthentication === "client_secret_post") return refuse(true)
      return { _tag: "Client", id, authenticated: true }
    }
    if (bodyId === confidentialClientId) {
      if (bodySecret !== secret || switches.requireClientAuthentication === "client_secret_basic") return refuse(false)
      return { _tag: "Client", id: bodyId, authenticated: true }
    }
    if (bodyId === publicClientId && bodySecret === null) return { _tag: "Client", id: bodyId, authenticated: false }
    return refuse(false)
  }

  // RFC 7523 §2.2 / OIDC Core §9: a signed assertion instead of the secret (private_key_jwt with
  // the registered `clientPublicJwk`, client_secret_jwt keyed with the secret).
  const authenticateAny = (request: Request, form: URLSearchParams, at: number): Effect.Effect<Caller> => {
    const assertion = form.get("client_assertion")
    if (assertion === null && form.get("client_assertion_type") === null) {
      return Effect.succeed(authenticate(request, form))
    }
    const clientId = form.get("client_id") ?? confidentialClientId
    if (
      assertion === null || form.get("client_assertion_type") !== Oidc.assertionType ||
      clientId !== confidentialClientId || form.get("client_secret") !== null ||
      request.headers["authorization"] !== undefined
    ) {
      return Effect.succeed({ _tag: "Refused", answer: invalidClient(false) })
    }
    return Effect.map(
      assertions.verify(assertion, {
        clientId,
        audiences: [baseUrl, `${baseUrl}/token`, request.url.origin + request.url.pathname],
        nowSeconds: Math.floor(at / 1000),
        secret,
        publicJwk: switches.clientPublicJwk
      }),
      (valid): Caller => {
        if (!valid) return { _tag: "Refused", answer: invalidClient(false) }
        counters.clientAssertions++
        return { _tag: "Client", id: clientId, authenticated: true }
      }
    )
  }

  const dpopHeaders = (): Record<string, string> => switches.dpopNonce ? { "dpop-nonce": dpop.nonce() } : {}

  // RFC 9449 §5, §8: the proof of a token request; `undefined` when none was sent and none is required.
  const checkTokenDpop = (request: Request, at: number) =>
    Effect.gen(function*() {
      const proof = request.headers["dpop"]
      if (proof === undefined && !switches.requireDpop) return { _tag: "None" } as const
      const result = yield* dpop.verify(proof, {
        method: "POST",
        url: request.url,
        nowSeconds: Math.floor(at / 1000),
        requireNonce: switches.dpopNonce
      })
      if (result._tag === "Valid") return { _tag: "Bound", jkt: result.jkt } as const
      counters.dpopRejections++
      return {
        _tag: "Refused",
        answer: result._tag === "UseNonce"
          ? oauthError(400, "use_dpop_nonce", "Use the server's DPoP nonce.", dpopHeaders())
          : oauthError(400, "invalid_dpop_proof", result.detail, dpopHeaders())
      } as const
    })

  const refreshRejected = (grantType: string, description: string): Answer => {
    countToken(grantType, "error")
    counters.invalidGrant++
    return switches.flavour === "osu"
      ? json(401, {
        error: "invalid_request",
        error_description: "The refresh token is invalid.",
        hint: "Token has been revoked",
        message: "The refresh token is invalid."
      })
      : oauthError(400, "invalid_grant", description)
  }

  const token = (request: Request, at: number): Effect.Effect<Answer> =>
    Effect.gen(function*() {
      if (request.method !== "POST") return text(405, "method not allowed", { allow: "POST" })
      const form = new URLSearchParams(request.body)
      const grantType = form.get("grant_type") ?? "(none)"
      const fail = (status: number, error: string, description?: string) => {
        countToken(grantType, "error")
        if (error === "invalid_grant") counters.invalidGrant++
        return oauthError(status, error, description)
      }
      const contentType = (request.headers["content-type"] ?? "").toLowerCase()
      if (!contentType.startsWith("application/x-www-form-urlencoded")) {
        return fail(400, "invalid_request", "The body must be application/x-www-form-urlencoded.")
      }
      if (hasDuplicates(form)) return fail(400, "invalid_request", "A parameter appears more than once.")
      const caller = yield* authenticateAny(request, form, at)
      if (caller._tag === "Refused") {
        countToken(grantType, "error")
        return caller.answer
      }
      const client = caller
      const proof = yield* checkTokenDpop(request, at)
      if (proof._tag === "Refused") {
        countToken(grantType, "error")
        return proof.answer
      }
      const jkt = proof._tag === "Bound" ? proof.jkt : undefined
      const answer = (grant: Grant, issued: Issued, withNonce: boolean) =>
        Effect.map(
          idTokenOf(grant, issued, at, withNonce, withNonce ? form.get("code") ?? undefined : undefined),
          (idToken) => {
            countToken(grantType, "ok")
            return json(200, tokenBody(issued, { idToken, dpop: jkt !== undefined }), dpopHeaders())
          }
        )
      const requested = scopesOf(form.get("scope"))
      const lifetime = switches.accessTokenLifetimeSeconds
      switch (grantType) {
        case "(none)":
          return fail(400, "invalid_request", "grant_type is required.")
        case "client_credentials": {
          if (!client.authenticated) return fail(400, "unauthorized_client", "A public client cannot use this grant.")
          const grant = newGrant(client.id, requested, undefined, jkt)
          countToken(grantType, "ok")
          return json(
            200,
            tokenBody(issue(grant, at, { scopes: requested, withRefresh: false, lifetime }), {
              dpop: jkt !== undefined
            }),
            dpopHeaders()
          )
        }
        case "authorization_code": {
          const code = codes.get(form.get("code") ?? "")
          if (code === undefined) return fail(400, "invalid_grant", "The authorization code is invalid.")
          // Marked before the digest is awaited, so two concurrent exchanges cannot both pass.
          const reused = code.used
          code.used = true
          if (reused) {
            // RFC 6749 §4.1.2: a code used twice revokes what was issued from it.
            if (code.grant !== undefined) code.grant.revoked = true
            codes.delete(form.get("code") ?? "")
            return fail(400, "invalid_grant", "The authorization code was already used.")
          }
          if (code.expiresAt <= at) return fail(400, "invalid_grant", "The authorization code expired.")
          if (code.clientId !== client.id) return fail(400, "invalid_grant", "The code was issued to another client.")
          if (code.redirectUri !== form.get("redirect_uri")) {
            return fail(400, "invalid_grant", "redirect_uri does not match the authorization request.")
          }
          const verifier = form.get("code_verifier")
          if (verifier === null || !verifierPattern.test(verifier)) {
            return fail(400, "invalid_grant", "A code_verifier of 43 to 128 characters is required.")
          }
          if ((yield* sha256Base64Url(verifier)) !== code.challenge) {
            return fail(400, "invalid_grant", "The code_verifier does not match the code_challenge.")
          }
          const grant = newGrant(client.id, code.scopes, code.login, jkt)
          code.grant = grant
          return yield* answer(grant, issue(grant, at, { scopes: code.scopes, withRefresh: true, lifetime }), true)
        }
        case "refresh_token": {
          const presented = form.get("refresh_token") ?? ""
          const entry = refreshTokens.get(presented)
          if (entry === undefined) return refreshRejected(grantType, "The refresh token is invalid.")
          if (entry.used) {
            // RFC 9700 §4.14.2: a rotated refresh token presented again means it leaked; end the grant.
            entry.grant.revoked = true
            return refreshRejected(grantType, "The refresh token was already used; the grant is revoked.")
          }
          if (isRevoked(entry.grant)) return refreshRejected(grantType, "The refresh token was revoked.")
          if (entry.expiresAt !== null && entry.expiresAt <= at) {
            return refreshRejected(grantType, "The refresh token expired.")
          }
          if (entry.grant.clientId !== client.id) {
            return refreshRejected(grantType, "The refresh token was issued to another client.")
          }
          // RFC 9449 §5: a refresh token bound to a DPoP key is refused without a proof of that key.
          if (entry.grant.jkt !== undefined && entry.grant.jkt !== jkt) {
            return refreshRejected(grantType, "The refresh token is bound to another DPoP key.")
          }
          const missing = requested.filter((scope) => !entry.grant.scopes.includes(scope))
          if (missing.length > 0) {
            return fail(400, "invalid_scope", `A refresh cannot widen the grant: ${missing.join(" ")}.`)
          }
          const scopes = requested.length > 0 ? requested : entry.grant.scopes
          const rotate = switches.rotateRefreshTokens && switches.flavour !== "spotify"
          if (rotate) spend(presented, entry)
          // osu! (league/oauth2-server) revokes the old access token with the old refresh token.
          if (switches.flavour === "osu") entry.access.revoked = true
          return yield* answer(entry.grant, issue(entry.grant, at, { scopes, withRefresh: rotate, lifetime }), false)
        }
        case deviceCodeGrantType: {
          const deviceCode = form.get("device_code") ?? ""
          const device = devices.get(deviceCode)
          if (device === undefined || device.clientId !== client.id) {
            return fail(400, "invalid_grant", "The device code is invalid.")
          }
          const tooSoon = device.lastPoll !== null && at - device.lastPoll < device.interval * 1000
          device.lastPoll = at
          if (at >= device.expiresAt) return fail(400, "expired_token", "The device code expired.")
          if (device.status === "denied") {
            devices.delete(deviceCode)
            return fail(400, "access_denied", "The user denied the request.")
          }
          if (tooSoon) {
            // RFC 8628 §3.5: every slow_down adds 5 seconds to the interval.
            device.interval += 5
            return fail(400, "slow_down", "Polling too fast.")
          }
          if (device.status === "pending") return fail(400, "authorization_pending")
          devices.delete(deviceCode)
          const grant = newGrant(client.id, device.scopes, { nonce: undefined, authTime: at }, jkt)
          return yield* answer(grant, issue(grant, at, { scopes: device.scopes, withRefresh: true, lifetime }), false)
        }
      }
      return fail(400, "unsupported_grant_type", "This server does not support that grant type.")
    })

  const isRegisteredRedirect = (uri: string) => {
    if (switches.redirectUris.includes(uri)) return true
    let url: URL
    try {
      url = new URL(uri)
    } catch {
      return false
    }
    if (url.protocol !== "http:" || url.hash !== "") return false
    // RFC 8252 §7.3: any port on a loopback IP literal; Spotify refuses the name `localhost`.
    return url.hostname === "127.0.0.1" || url.hostname === "[::1]" ||
      (url.hostname === "localhost" && switches.flavour !== "spotify")
  }

  // The parameters of an authorization request: the query, or (RFC 9126 §4) the pushed request
  // that its `request_uri` names, used once and only by the client that pushed it.
  const authorizationParams = (request: Request, at: number): URLSearchParams | string => {
    const query = request.url.searchParams
    const requestUri = query.get("request_uri")
    if (requestUri === null) {
      return switches.requirePushedAuthorizationRequests
        ? "this server requires pushed authorization requests (RFC 9126)"
        : query
    }
    const entry = pushed.get(requestUri)
    pushed.delete(requestUri)
    if (entry === undefined || entry.expiresAt <= at || entry.clientId !== query.get("client_id")) {
      return "request_uri is unknown, used or expired"
    }
    return entry.params
  }

  const authorize = (request: Request, at: number): Answer => {
    counters.authorizationRequests++
    const params = authorizationParams(request, at)
    if (typeof params === "string") return text(400, params)
    const clientId = params.get("client_id")
    const redirectUri = params.get("redirect_uri")
    // Without a known client and a registered redirect URI there is nowhere safe to send the user.
    if (clientId !== confidentialClientId && clientId !== publicClientId) {
      return text(400, "unknown client_id")
    }
    if (redirectUri === null || !isRegisteredRedirect(redirectUri) || params.getAll("redirect_uri").length > 1) {
      return text(400, "redirect_uri is not registered for this client")
    }
    const target = new URL(redirectUri)
    const state = params.get("state")
    if (state !== null) target.searchParams.set("state", state)
    if (switches.issParameter) target.searchParams.set("iss", baseUrl)
    const redirect = (): Answer => ({
      _tag: "Response",
      status: 302,
      headers: { location: target.toString(), "cache-control": "no-store" },
      body: ""
    })
    const error = (code: string, description: string) => {
      target.searchParams.set("error", code)
      target.searchParams.set("error_description", description)
      return redirect()
    }
    const problem = checkAuthorizationParams(params)
    if (problem !== undefined) return error(problem[0], problem[1])
    if (switches.denyAuthorization) return error("access_denied", "The user denied the request.")
    const requested = scopesOf(params.get("scope"))
    // osu!: `identify` is implied for the authorization-code grant.
    const scopes = switches.flavour === "osu" && !requested.includes("identify")
      ? [...requested, "identify"]
      : requested
    const code = randomToken()
    codes.set(code, {
      clientId,
      redirectUri,
      challenge: params.get("code_challenge") ?? "",
      scopes,
      expiresAt: at + 600_000,
      // The user signs in now: auth_time is this moment (OIDC Core §2).
      login: scopes.includes("openid") ? { nonce: params.get("nonce") ?? undefined, authTime: at } : undefined,
      used: false,
      grant: undefined
    })
    target.searchParams.set("code", code)
    return redirect()
  }

  const checkAuthorizationParams = (params: URLSearchParams): readonly [string, string] | undefined => {
    if (hasDuplicates(params)) return ["invalid_request", "A parameter appears more than once."]
    if (params.get("response_type") !== "code") {
      return ["unsupported_response_type", "Only response_type=code is supported."]
    }
    const challenge = params.get("code_challenge")
    if (params.get("code_challenge_method") !== "S256" || challenge === null || !challengePattern.test(challenge)) {
      return ["invalid_request", "PKCE is required: a code_challenge with code_challenge_method=S256."]
    }
    return undefined
  }

  // RFC 9126 §2: the client pushes its authorization request and gets a one-time request_uri.
  const pushAuthorization = (request: Request, at: number) =>
    Effect.gen(function*() {
      if (request.method !== "POST") return text(405, "method not allowed", { allow: "POST" })
      counters.pushedAuthorizationRequests++
      const form = new URLSearchParams(request.body)
      const caller = yield* authenticateAny(request, form, at)
      if (caller._tag === "Refused") return caller.answer
      if (form.has("request_uri")) return oauthError(400, "invalid_request", "request_uri cannot be pushed.")
      const redirectUri = form.get("redirect_uri")
      if (form.get("client_id") !== caller.id && form.has("client_id")) {
        return oauthError(400, "invalid_request", "client_id is not the authenticated client.")
      }
      if (redirectUri === null || !isRegisteredRedirect(redirectUri)) {
        return oauthError(400, "invalid_request", "redirect_uri is not registered for this client.")
      }
      const problem = checkAuthorizationParams(form)
      if (problem !== undefined) return oauthError(400, problem[0], problem[1])
      form.delete("client_secret")
      form.delete("client_assertion")
      form.delete("client_assertion_type")
      form.set("client_id", caller.id)
      const requestUri = `urn:ietf:params:oauth:request_uri:${randomToken(16)}`
      pushed.set(requestUri, { clientId: caller.id, params: form, expiresAt: at + 60_000 })
      return json(201, { request_uri: requestUri, expires_in: 60 })
    })

  const count = (table: Record<string, number>, status: number) => {
    table[String(status)] = (table[String(status)] ?? 0) + 1
  }

  const resourceBody = (request: Request, scopes: ReadonlyArray<string>): unknown => {
    const path = request.url.pathname
    if (path === "/me") return { id: 1, username: "test-user", scopes }
    if (path === paths.userinfo) {
      return {
        sub: switches.userinfoSubject ?? subject,
        name: "Test User",
        preferred_username: "test-user",
        email: "test-user@example.com",
        email_verified: true
      }
    }
    if (path === "/api/v2/me" || path.startsWith("/api/v2/me/")) {
      return { id: 1, username: "test-user", country_code: "AU", is_bot: false, playmode: "osu" }
    }
    let match = /^\/api\/v2\/users\/(\d+)/.exec(path)
    if (match !== null) return { id: Number(match[1]), username: `user-${match[1]}`, country_code: "JP" }
    match = /^\/api\/v2\/beatmaps\/(\d+)/.exec(path)
    if (match !== null) {
      return { id: Number(match[1]), beatmapset_id: 1, version: "Normal", mode: "osu", difficulty_rating: 2.5 }
    }
    if (path === "/v1/me") return { id: "test-user", display_name: "Test User", type: "user" }
    if (path === "/api/v2/chat/new" && request.method === "POST") {
      let message = ""
      try {
        message = String((JSON.parse(request.body) as { message?: unknown }).message ?? "")
      } catch {
        message = ""
      }
      return { channel: { channel_id: 1, type: "PM" }, message: { message_id: 1, content: message, sender_id: 1 } }
    }
    if (path === "/v1/search") {
      const items = [{ name: "Test Track", artists: [{ name: "Test Artist" }], type: "track" }]
      return { tracks: { href: `${baseUrl}/v1/search`, items, limit: 20, offset: 0, total: items.length } }
    }
    return { path, method: request.method }
  }

  const resource = (request: Request, at: number): Effect.Effect<Answer> =>
    Effect.gen(function*() {
      const header = request.headers["authorization"]
      const entry = header === undefined ? undefined : accessTokens.get(header.replace(/^\S+\s+/, "").trim())
      if (entry?.grant.jkt === undefined) return resourceAnswer(request, at)
      // RFC 9449 §7: a DPoP-bound token is accepted only as `DPoP` with a proof of its key.
      const refuse = (error: string, status = 401) => {
        counters.dpopRejections++
        count(counters.resourceRequests, status)
        return json(status, { error }, {
          "www-authenticate": `DPoP error="${error}", algs="ES256 RS256 PS256 EdDSA"`,
          ...dpopHeaders()
        })
      }
      if (header === undefined || !/^dpop /i.test(header)) return refuse("invalid_token")
      const result = yield* dpop.verify(request.headers["dpop"], {
        method: request.method,
        url: request.url,
        nowSeconds: Math.floor(at / 1000),
        accessToken: header.slice(5).trim(),
        requireNonce: switches.dpopNonce
      })
      if (result._tag === "UseNonce") return refuse("use_dpop_nonce")
      if (result._tag === "Invalid" || result.jkt !== entry.grant.jkt) return refuse("invalid_dpop_proof")
      return resourceAnswer(request, at)
    })

  const resourceAnswer = (request: Request, at: number): Answer => {
    const isMe = request.url.pathname === "/me"
    const answer = (response: Answer) => {
      count(counters.resourceRequests, response.status)
      if (isMe) count(counters.meRequests, response.status)
      return response
    }
    const unauthorized = (error: string | undefined) =>
      answer(
        switches.flavour === "osu"
          ? json(401, { authentication: "basic" })
          : error === undefined
          ? json(401, { error: "unauthorized" }, { "www-authenticate": "Bearer realm=\"test-server\"" })
          : json(401, { error }, { "www-authenticate": `Bearer realm="test-server", error="${error}"` })
      )
    // RFC 6750 §2.3 / RFC 9700 §2.4: a token in the URL is refused, never read.
    if (request.url.searchParams.has("access_token")) {
      return answer(
        json(400, { error: "invalid_request" }, {
          "www-authenticate":
            "Bearer realm=\"test-server\", error=\"invalid_request\", error_description=\"send the token in the Authorization header\""
        })
      )
    }
    const header = request.headers["authorization"]
    if (header === undefined || !/^(bearer|dpop) /i.test(header)) return unauthorized(undefined)
    const entry = accessTokens.get(header.replace(/^\S+\s+/, "").trim())
    const valid = entry !== undefined && !entry.revoked && !isRevoked(entry.grant) &&
      (entry.expiresAt === null || at < entry.expiresAt)
    if (!valid || entry === undefined) return unauthorized("invalid_token")
    if (request.method === "DELETE" && request.url.pathname === "/api/v2/oauth/tokens/current") {
      entry.revoked = true
      counters.revocations++
      return answer({ _tag: "Response", status: 204, headers: {}, body: "" })
    }
    const needed = [
      ...new Set([
        ...switches.requiredScopes,
        ...request.url.searchParams.getAll("scope").flatMap(scopesOf),
        // OIDC Core §5.3: UserInfo answers only tokens granted `openid`.
        ...(request.url.pathname === paths.userinfo ? ["openid"] : [])
      ])
    ]
    if (needed.some((scope) => !entry.scopes.includes(scope))) {
      return answer(
        json(403, { error: "insufficient_scope", scope: needed.join(" ") }, {
          "www-authenticate": `Bearer realm="test-server", error="insufficient_scope", scope="${needed.join(" ")}"`
        })
      )
    }
    return answer(json(200, resourceBody(request, entry.scopes)))
  }

  const revoke = (request: Request, at: number) =>
    Effect.gen(function*() {
      if (request.method !== "POST") return text(405, "method not allowed", { allow: "POST" })
      const form = new URLSearchParams(request.body)
      const caller = yield* authenticateAny(request, form, at)
      if (caller._tag === "Refused") return caller.answer
      const presented = form.get("token")
      if (presented === null) return oauthError(400, "invalid_request", "token is required.")
      // RFC 7009 §2.1: revoking a refresh token ends its grant; another client's token is left alone.
      const refresh = refreshTokens.get(presented)
      if (refresh !== undefined && refresh.grant.clientId === caller.id) refresh.grant.revoked = true
      const access = accessTokens.get(presented)
      if (access !== undefined && access.grant.clientId === caller.id) access.revoked = true
      counters.revocations++
      // RFC 7009 §2.2: 200 whether or not the token was known.
      return { _tag: "Response", status: 200, headers: { "cache-control": "no-store" }, body: "" } as Answer
    })

  // RFC 7662: only an authenticated client may ask, and only about its own tokens.
  const introspect = (request: Request, at: number) =>
    Effect.gen(function*() {
      if (request.method !== "POST") return text(405, "method not allowed", { allow: "POST" })
      const form = new URLSearchParams(request.body)
      const caller = yield* authenticateAny(request, form, at)
      if (caller._tag === "Refused") return caller.answer
      counters.introspections++
      const presented = form.get("token")
      if (presented === null) return oauthError(400, "invalid_request", "token is required.")
      const access = accessTokens.get(presented)
      const refresh = refreshTokens.get(presented)
      const grant = access?.grant ?? refresh?.grant
      const expiresAt = access !== undefined ? access.expiresAt : refresh?.expiresAt ?? null
      const active = grant !== undefined && grant.clientId === caller.id && !isRevoked(grant) &&
        (access === undefined || !access.revoked) && (refresh === undefined || !refresh.used) &&
        (expiresAt === null || at < expiresAt)
      if (!active) return json(200, { active: false })
      return json(200, {
        active: true,
        scope: (access?.scopes ?? grant.scopes).join(" "),
        client_id: grant.clientId,
        username: "test-user",
        token_type: access === undefined ? "refresh_token" : grant.jkt === undefined ? "Bearer" : "DPoP",
        ...(expiresAt === null ? {} : { exp: Math.floor(expiresAt / 1000) }),
        ...(access === undefined ? {} : { iat: Math.floor(access.issuedAt / 1000) }),
        sub: subject,
        aud: grant.clientId,
        iss: baseUrl,
        ...(grant.jkt === undefined ? {} : { cnf: { jkt: grant.jkt } })
      })
    })

  // RP-initiated logout: back to a registered post_logout_redirect_uri, with the state.
  const endSession = (request: Request): Answer => {
    const target = request.url.searchParams.get("post_logout_redirect_uri")
    if (target === null || !isRegisteredRedirect(target)) return text(200, "You are signed out.")
    const url = new URL(target)
    const state = request.url.searchParams.get("state")
    if (state !== null) url.searchParams.set("state", state)
    return { _tag: "Response", status: 302, headers: { location: url.toString() }, body: "" }
  }

  const deviceAuthorization = (request: Request, at: number): Answer => {
    if (request.method !== "POST") return text(405, "method not allowed", { allow: "POST" })
    counters.deviceAuthorizationRequests++
    const form = new URLSearchParams(request.body)
    const caller = authenticate(request, form)
    if (caller._tag === "Refused") return caller.answer
    const deviceCode = randomToken()
    const userCode = randomUserCode()
    const interval = switches.deviceCodeIntervalSeconds
    const lifetime = switches.deviceCodeLifetimeSeconds
    devices.set(deviceCode, {
      clientId: caller.id,
      userCode,
      scopes: scopesOf(form.get("scope")),
      expiresAt: at + lifetime * 1000,
      status: "pending",
      interval,
      lastPoll: null
    })
    return json(200, {
      device_code: deviceCode,
      user_code: userCode,
      verification_uri: `${baseUrl}/device`,
      verification_uri_complete: `${baseUrl}/device?user_code=${userCode}`,
      expires_in: lifetime,
      interval
    })
  }

  const metadata = () =>
    json(200, {
      issuer: baseUrl,
      authorization_endpoint: `${baseUrl}/authorize`,
      token_endpoint: `${baseUrl}/token`,
      revocation_endpoint: `${baseUrl}/revoke`,
      device_authorization_endpoint: `${baseUrl}/device/code`,
      userinfo_endpoint: `${baseUrl}${paths.userinfo}`,
      jwks_uri: `${baseUrl}${paths.jwks}`,
      introspection_endpoint: `${baseUrl}${paths.introspect}`,
      end_session_endpoint: `${baseUrl}${paths.endSession}`,
      pushed_authorization_request_endpoint: `${baseUrl}${paths.par}`,
      require_pushed_authorization_requests: switches.requirePushedAuthorizationRequests,
      dpop_signing_alg_values_supported: ["ES256", "ES384", "RS256", "PS256", "EdDSA"],
      id_token_signing_alg_values_supported: ["RS256"],
      subject_types_supported: ["public"],
      grant_types_supported: ["authorization_code", "client_credentials", "refresh_token", deviceCodeGrantType],
      response_types_supported: ["code"],
      response_modes_supported: ["query"],
      token_endpoint_auth_methods_supported: switches.requireClientAuthentication === "any"
        ? ["client_secret_basic", "client_secret_post", "private_key_jwt", "client_secret_jwt", "none"]
        : [switches.requireClientAuthentication, "none"],
      revocation_endpoint_auth_methods_supported: ["client_secret_basic", "client_secret_post", "none"],
      code_challenge_methods_supported: ["S256"],
      authorization_response_iss_parameter_supported: switches.issParameter
    })

  const route = (request: Request, at: number): Effect.Effect<Answer> => {
    const path = request.url.pathname
    if (isOneOf(paths.token, path)) return token(request, at)
    if (isOneOf(paths.authorize, path) && request.method === "GET") return Effect.succeed(authorize(request, at))
    if (isOneOf(paths.revoke, path)) return revoke(request, at)
    if (isOneOf(paths.deviceCode, path)) return Effect.succeed(deviceAuthorization(request, at))
    if (path === "/.well-known/oauth-authorization-server" || path === "/.well-known/openid-configuration") {
      return Effect.succeed(metadata())
    }
    if (path === paths.jwks) {
      counters.jwksRequests++
      return Effect.map(signer.jwks, (jwks) => json(200, jwks, { "cache-control": "max-age=300" }))
    }
    if (path === paths.introspect) return introspect(request, at)
    if (path === paths.par) return pushAuthorization(request, at)
    if (path === paths.endSession) return Effect.succeed(endSession(request))
    if (path === paths.userinfo) counters.userinfoRequests++
    if (path === "/me" || path === paths.userinfo || path.startsWith("/api/") || path.startsWith("/v1/")) {
      return resource(request, at)
    }
    return Effect.succeed(text(404, "not found"))
  }

  const takeFault = (path: string): Fault | undefined => {
    const index = faults.findIndex((fault) =>
      fault.path === undefined ? isOneOf(paths.token, path) : fault.path === "*" || fault.path === path
    )
    if (index < 0) return undefined
    const [fault] = faults.splice(index, 1)
    return fault
  }

  // Browsers on another origin (a SPA on its own dev server) call the token endpoint and the API:
  // preflights are answered and every response names the caller's origin, when `cors` is on.
  const corsHeaders = (origin: string): Record<string, string> => ({
    "access-control-allow-origin": origin,
    "access-control-expose-headers": "www-authenticate, retry-after, dpop-nonce",
    "vary": "origin"
  })

  const handle = (request: Request): Effect.Effect<Response> => {
    const origin = request.headers["origin"]
    if (origin === undefined || !switches.cors) return handleRequest(request)
    if (request.method === "OPTIONS") {
      return Effect.succeed({
        _tag: "Response",
        status: 204,
        headers: {
          ...corsHeaders(origin),
          "access-control-allow-methods": "GET, POST, DELETE, OPTIONS",
          // Whatever the browser asks to send (authorization, content-type, traceparent, …).
          "access-control-allow-headers": request.headers["access-control-request-headers"] ??
            "authorization, content-type",
          "access-control-max-age": "600"
        },
        body: ""
      })
    }
    return Effect.map(handleRequest(request), (response) =>
      response._tag === "Response"
        ? { ...response, headers: { ...response.headers, ...corsHeaders(origin) } }
        : response)
  }

  const handleRequest = (request: Request): Effect.Effect<Response> =>
    Effect.gen(function*() {
      if (switches.latencyMillis > 0) yield* Effect.sleep(switches.latencyMillis)
      const fault = takeFault(request.url.pathname)
      if (fault === undefined) return yield* route(request, yield* now)
      counters.faults++
      if (fault.delayMillis !== undefined && fault.delayMillis > 0) yield* Effect.sleep(fault.delayMillis)
      const replaces = fault.hang === true || fault.dropConnection === true || fault.redirectTo !== undefined ||
        fault.status !== undefined
      // With `afterProcessing` the server does the work (a refresh rotates) and the client never hears of it.
      const real = !replaces || fault.afterProcessing === true ? yield* route(request, yield* now) : undefined
      if (fault.hang) return yield* Effect.never
      if (fault.dropConnection) return { _tag: "Drop" } as const
      if (fault.redirectTo !== undefined) {
        return { _tag: "Response", status: 302, headers: { location: fault.redirectTo }, body: "" } as const
      }
      if (fault.status !== undefined || real === undefined) {
        return { _tag: "Response", status: fault.status ?? 200, headers: { ...fault.headers }, body: fault.body ?? "" }
      }
      return {
        _tag: "Response",
        status: real.status,
        headers: { ...real.headers, ...fault.headers },
        body: fault.body ?? real.body
      }
    })

  const revokeEverything = () => {
    epoch++
    accessTokens.clear()
    refreshTokens.clear()
    codes.clear()
    devices.clear()
  }

  return {
    handle,
    switches,
    configure: (patch: Partial<Switches>) => Effect.sync(() => void Object.assign(switches, patch)),
    injectFaults: (more: ReadonlyArray<Fault>) => Effect.sync(() => void faults.push(...more)),
    clearFaults: Effect.sync(() => void (faults = [])),
    counters: Effect.sync((): Counters => structuredClone(counters)),
    resetCounters: Effect.sync(() => {
      counters = emptyCounters() as MutableCounters
    }),
    resetSecret: Effect.sync(() => {
      secret = randomToken(16)
      revokeEverything()
      return secret
    }),
    revokeAll: Effect.sync(revokeEverything),
    rotateSigningKey: signer.rotate,
    rotateDpopNonce: Effect.sync(dpop.rotateNonce),
    issueToken: (options: IssueOptions) =>
      Effect.map(now, (at) => {
        const scopes = options.scopes ?? []
        const grant = newGrant(options.clientId ?? confidentialClientId, scopes)
        return issue(grant, at, {
          scopes,
          withRefresh: options.withRefreshToken ?? true,
          lifetime: options.lifetimeSeconds === undefined
            ? switches.accessTokenLifetimeSeconds
            : options.lifetimeSeconds
        })
      }),
    setDevice: (userCode: string, status: "approved" | "denied") =>
      Effect.sync(() => {
        const wanted = normalizeUserCode(userCode)
        let found = false
        for (const device of devices.values()) {
          if (normalizeUserCode(device.userCode) === wanted && device.status === "pending") {
            device.status = status
            found = true
          }
        }
        return found
      })
  }
}

/** @internal */
export type AuthorizationServer = ReturnType<typeof make>
