/**
 * The authorization server's logic, independent of any transport: a request in (method, URL,
 * headers, body), a response out. Both transports of `TestServer` run it.
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"

/** @internal */
export type Flavour = "standard" | "osu" | "spotify"

/** @internal */
export interface Switches {
  accessTokenLifetimeSeconds: number | null
  rotateRefreshTokens: boolean
  latencyMillis: number
  denyAuthorization: boolean
  issParameter: boolean
  flavour: Flavour
  requiredScopes: ReadonlyArray<string>
}

/** @internal */
export interface Fault {
  readonly path?: string | undefined
  readonly status?: number | undefined
  readonly body?: string | undefined
  readonly headers?: Readonly<Record<string, string>> | undefined
  readonly delayMillis?: number | undefined
  readonly dropConnection?: boolean | undefined
  readonly redirectTo?: string | undefined
}

/** @internal */
export interface Counters {
  readonly tokenRequests: Record<string, { ok: number; error: number }>
  invalidGrant: number
  readonly resourceRequests: Record<string, number>
  revocations: number
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

interface Grant {
  readonly clientId: string
  readonly scopes: ReadonlyArray<string>
  revoked: boolean
}

interface AccessToken {
  readonly grant: Grant
  readonly expiresAt: number | null
  revoked: boolean
}

interface RefreshToken {
  readonly grant: Grant
  used: boolean
}

interface Code {
  readonly clientId: string
  readonly redirectUri: string
  readonly challenge: string
  readonly scopes: ReadonlyArray<string>
  readonly expiresAt: number
  used: boolean
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

/** @internal */
export const randomToken = (bytes = 24): string => {
  const buffer = new Uint8Array(bytes)
  crypto.getRandomValues(buffer)
  let binary = ""
  for (const byte of buffer) binary += String.fromCharCode(byte)
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "")
}

const sha256Base64Url = (input: string) =>
  Effect.promise(() => crypto.subtle.digest("SHA-256", new TextEncoder().encode(input))).pipe(
    Effect.map((digest) => {
      let binary = ""
      for (const byte of new Uint8Array(digest)) binary += String.fromCharCode(byte)
      return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "")
    })
  )

const json = (status: number, body: unknown, headers: Record<string, string> = {}): Answer => ({
  _tag: "Response",
  status,
  headers: { "content-type": "application/json", "cache-control": "no-store", ...headers },
  body: JSON.stringify(body)
})

const formDecode = (value: string) => decodeURIComponent(value.replace(/\+/g, " "))

const isLoopbackRedirect = (uri: string) => {
  try {
    const url = new URL(uri)
    return url.protocol === "https:" ||
      (url.protocol === "http:" && ["127.0.0.1", "[::1]", "localhost"].includes(url.hostname))
  } catch {
    return false
  }
}

/** The confidential client's id. @internal */
export const confidentialClientId = "test-client"
/** The public (PKCE-only) client's id. @internal */
export const publicClientId = "test-public-client"
/** A secret that needs RFC 6749 §2.3.1 form-encoding in Basic authentication. @internal */
export const initialSecret = "s3cr:t%+é"

/** @internal */
export const make = (baseUrl: string, initial: Partial<Switches>) => {
  const switches: Switches = {
    accessTokenLifetimeSeconds: 3600,
    rotateRefreshTokens: true,
    latencyMillis: 0,
    denyAuthorization: false,
    issParameter: false,
    flavour: "standard",
    requiredScopes: [],
    ...initial
  }
  let secret = initialSecret
  let faults: Array<Fault> = []
  let counters: Counters = { tokenRequests: {}, invalidGrant: 0, resourceRequests: {}, revocations: 0 }
  const grants = new Set<Grant>()
  const accessTokens = new Map<string, AccessToken>()
  const refreshTokens = new Map<string, RefreshToken>()
  const codes = new Map<string, Code>()
  const devices = new Map<string, Device>()

  const count = (grantType: string, outcome: "ok" | "error") => {
    const entry = counters.tokenRequests[grantType] ?? { ok: 0, error: 0 }
    entry[outcome]++
    counters.tokenRequests[grantType] = entry
  }

  const revokeGrant = (grant: Grant) => {
    grant.revoked = true
  }

  const issue = (grant: Grant, now: number, withRefresh: boolean) => {
    const accessToken = randomToken()
    const lifetime = switches.accessTokenLifetimeSeconds
    accessTokens.set(accessToken, {
      grant,
      expiresAt: lifetime === null ? null : now + lifetime * 1000,
      revoked: false
    })
    let refreshToken: string | undefined
    if (withRefresh) {
      refreshToken = randomToken()
      refreshTokens.set(refreshToken, { grant, used: false })
    }
    return { accessToken, refreshToken, lifetime }
  }

  const tokenBody = (issued: ReturnType<typeof issue>, scopes: ReadonlyArray<string>) => ({
    access_token: issued.accessToken,
    token_type: "Bearer",
    ...(issued.lifetime === null ? {} : { expires_in: issued.lifetime }),
    ...(issued.refreshToken === undefined ? {} : { refresh_token: issued.refreshToken }),
    scope: scopes.join(" ")
  })

  const oauthError = (status: number, error: string, description?: string) =>
    json(status, { error, ...(description === undefined ? {} : { error_description: description }) })

  // Who is calling: Basic credentials or client_id / client_secret in the body.
  const clientOf = (request: Request, form: URLSearchParams): { id: string; authenticated: boolean } | null => {
    const header = request.headers["authorization"]
    if (header !== undefined && header.toLowerCase().startsWith("basic ")) {
      let decoded: string
      try {
        const binary = atob(header.slice(6).trim())
        decoded = new TextDecoder().decode(Uint8Array.from(binary, (c) => c.charCodeAt(0)))
      } catch {
        return null
      }
      const colon = decoded.indexOf(":")
      if (colon < 0) return null
      const id = formDecode(decoded.slice(0, colon))
      const given = formDecode(decoded.slice(colon + 1))
      return id === confidentialClientId && given === secret ? { id, authenticated: true } : null
    }
    const id = form.get("client_id")
    const given = form.get("client_secret")
    if (id === confidentialClientId) return given === secret ? { id, authenticated: true } : null
    if (id === publicClientId && given === null) return { id, authenticated: false }
    return null
  }

  const refreshRejected = () =>
    switches.flavour === "osu"
      ? json(401, {
        error: "invalid_request",
        error_description: "The refresh token is invalid.",
        hint: "Token has been revoked",
        message: "The refresh token is invalid."
      })
      : oauthError(400, "invalid_grant", "The refresh token is invalid, expired or revoked.")

  const token = (request: Request, now: number): Effect.Effect<Response> =>
    Effect.gen(function*() {
      const form = new URLSearchParams(request.body)
      const grantType = form.get("grant_type") ?? "(none)"
      const client = clientOf(request, form)
      if (client === null) {
        count(grantType, "error")
        return oauthError(401, "invalid_client", "Client authentication failed")
      }
      const requested = (form.get("scope") ?? "").split(" ").filter((s) => s.length > 0)
      switch (grantType) {
        case "client_credentials": {
          if (!client.authenticated) break
          const grant: Grant = { clientId: client.id, scopes: requested, revoked: false }
          grants.add(grant)
          count(grantType, "ok")
          return json(200, tokenBody(issue(grant, now, false), requested))
        }
        case "authorization_code": {
          const code = codes.get(form.get("code") ?? "")
          const verifier = form.get("code_verifier")
          const valid = code !== undefined && !code.used && code.expiresAt > now && code.clientId === client.id &&
            code.redirectUri === form.get("redirect_uri") && verifier !== null &&
            (yield* sha256Base64Url(verifier)) === code.challenge
          if (code !== undefined) code.used = true
          if (!valid || code === undefined) {
            count(grantType, "error")
            counters.invalidGrant++
            return oauthError(400, "invalid_grant", "The authorization code is invalid, used or expired.")
          }
          const grant: Grant = { clientId: client.id, scopes: code.scopes, revoked: false }
          grants.add(grant)
          count(grantType, "ok")
          return json(200, tokenBody(issue(grant, now, true), code.scopes))
        }
        case "refresh_token": {
          const presented = form.get("refresh_token") ?? ""
          const entry = refreshTokens.get(presented)
          if (entry === undefined || entry.grant.revoked || entry.used || entry.grant.clientId !== client.id) {
            // Reuse of a rotated refresh token: the whole grant is revoked (RFC 9700 §4.14.2).
            if (entry !== undefined && entry.used) revokeGrant(entry.grant)
            count(grantType, "error")
            counters.invalidGrant++
            return refreshRejected()
          }
          if (!requested.every((scope) => entry.grant.scopes.includes(scope))) {
            count(grantType, "error")
            return oauthError(400, "invalid_scope", "A refresh cannot widen the granted scopes.")
          }
          const scopes = requested.length > 0 ? requested : entry.grant.scopes
          const rotate = switches.rotateRefreshTokens && switches.flavour !== "spotify"
          if (rotate) entry.used = true
          const issued = issue(entry.grant, now, rotate)
          count(grantType, "ok")
          return json(200, tokenBody(issued, scopes))
        }
        case "urn:ietf:params:oauth:grant-type:device_code": {
          const device = devices.get(form.get("device_code") ?? "")
          if (device === undefined || device.clientId !== client.id) {
            count(grantType, "error")
            return oauthError(400, "invalid_grant", "Unknown device code.")
          }
          const tooSoon = device.lastPoll !== null && now - device.lastPoll < device.interval * 1000
          device.lastPoll = now
          if (now >= device.expiresAt) {
            count(grantType, "error")
            return oauthError(400, "expired_token", "The device code expired.")
          }
          if (device.status === "denied") {
            count(grantType, "error")
            return oauthError(400, "access_denied", "The user denied the request.")
          }
          if (tooSoon) {
            device.interval += 5
            count(grantType, "error")
            return oauthError(400, "slow_down")
          }
          if (device.status === "pending") {
            count(grantType, "error")
            return oauthError(400, "authorization_pending")
          }
          devices.delete(form.get("device_code") ?? "")
          const grant: Grant = { clientId: client.id, scopes: device.scopes, revoked: false }
          grants.add(grant)
          count(grantType, "ok")
          return json(200, tokenBody(issue(grant, now, true), device.scopes))
        }
        case "password":
          count(grantType, "error")
          return oauthError(400, "unsupported_grant_type")
      }
      count(grantType, "error")
      return oauthError(400, client.authenticated ? "unsupported_grant_type" : "unauthorized_client")
    })

  const authorize = (request: Request, now: number): Response => {
    const params = request.url.searchParams
    const redirectUri = params.get("redirect_uri") ?? ""
    const clientId = params.get("client_id")
    if ((clientId !== confidentialClientId && clientId !== publicClientId) || !isLoopbackRedirect(redirectUri)) {
      return {
        _tag: "Response",
        status: 400,
        headers: { "content-type": "text/plain" },
        body: "invalid client or redirect"
      }
    }
    const target = new URL(redirectUri)
    const state = params.get("state")
    if (state !== null) target.searchParams.set("state", state)
    if (switches.issParameter) target.searchParams.set("iss", baseUrl)
    const challenge = params.get("code_challenge")
    if (switches.denyAuthorization) {
      target.searchParams.set("error", "access_denied")
      target.searchParams.set("error_description", "The user denied the request.")
    } else if (
      params.get("response_type") !== "code" || challenge === null ||
      params.get("code_challenge_method") !== "S256"
    ) {
      target.searchParams.set("error", "invalid_request")
      target.searchParams.set("error_description", "response_type=code and an S256 code_challenge are required.")
    } else {
      const code = randomToken()
      codes.set(code, {
        clientId,
        redirectUri,
        challenge,
        scopes: (params.get("scope") ?? "").split(" ").filter((s) => s.length > 0),
        expiresAt: now + 600_000,
        used: false
      })
      target.searchParams.set("code", code)
    }
    return { _tag: "Response", status: 302, headers: { location: target.toString() }, body: "" }
  }

  const resource = (request: Request, now: number): Response => {
    const answer = (response: Answer) => {
      counters.resourceRequests[String(response.status)] = (counters.resourceRequests[String(response.status)] ?? 0) +
        1
      return response
    }
    const header = request.headers["authorization"] ?? ""
    const presented = /^bearer /i.test(header) ? header.slice(7).trim() : ""
    const entry = accessTokens.get(presented)
    const valid = entry !== undefined && !entry.revoked && !entry.grant.revoked &&
      (entry.expiresAt === null || now < entry.expiresAt)
    if (!valid || entry === undefined) {
      return answer(
        switches.flavour === "osu"
          ? json(401, { authentication: "basic" })
          : json(401, { error: "invalid_token" }, { "www-authenticate": "Bearer error=\"invalid_token\"" })
      )
    }
    if (request.method === "DELETE" && request.url.pathname === "/api/v2/oauth/tokens/current") {
      entry.revoked = true
      counters.revocations++
      return answer({ _tag: "Response", status: 204, headers: {}, body: "" })
    }
    const needed = [...switches.requiredScopes, ...request.url.searchParams.getAll("scope")]
    const missing = needed.filter((scope) => !entry.grant.scopes.includes(scope))
    if (missing.length > 0) {
      return answer(
        json(403, { error: "insufficient_scope" }, {
          "www-authenticate": `Bearer error="insufficient_scope", scope="${needed.join(" ")}"`
        })
      )
    }
    if (request.url.pathname === "/me") {
      return answer(json(200, { id: 1, username: "test-user", scopes: entry.grant.scopes }))
    }
    return answer(json(200, { path: request.url.pathname, id: 2, name: "sample" }))
  }

  const metadata = () =>
    json(200, {
      issuer: baseUrl,
      authorization_endpoint: `${baseUrl}/authorize`,
      token_endpoint: `${baseUrl}/token`,
      revocation_endpoint: `${baseUrl}/revoke`,
      device_authorization_endpoint: `${baseUrl}/device/code`,
      grant_types_supported: [
        "authorization_code",
        "client_credentials",
        "refresh_token",
        "urn:ietf:params:oauth:grant-type:device_code"
      ],
      response_types_supported: ["code"],
      token_endpoint_auth_methods_supported: ["client_secret_basic", "client_secret_post", "none"],
      code_challenge_methods_supported: ["S256"],
      authorization_response_iss_parameter_supported: switches.issParameter
    })

  const route = (request: Request, now: number): Effect.Effect<Response> => {
    const path = request.url.pathname
    if (path === "/token" && request.method === "POST") return token(request, now)
    if (path === "/authorize" && request.method === "GET") return Effect.succeed(authorize(request, now))
    if (path === "/revoke" && request.method === "POST") {
      const form = new URLSearchParams(request.body)
      if (clientOf(request, form) === null) return Effect.succeed(oauthError(401, "invalid_client"))
      const presented = form.get("token") ?? ""
      const refresh = refreshTokens.get(presented)
      if (refresh !== undefined) revokeGrant(refresh.grant)
      const access = accessTokens.get(presented)
      if (access !== undefined) access.revoked = true
      counters.revocations++
      return Effect.succeed({ _tag: "Response", status: 200, headers: {}, body: "" })
    }
    if (path === "/device/code" && request.method === "POST") {
      const form = new URLSearchParams(request.body)
      const client = clientOf(request, form)
      if (client === null) return Effect.succeed(oauthError(401, "invalid_client"))
      const deviceCode = randomToken()
      const userCode = randomToken(4).toUpperCase().replace(/[^A-Z0-9]/g, "X").slice(0, 4) + "-" +
        randomToken(4).toUpperCase().replace(/[^A-Z0-9]/g, "X").slice(0, 4)
      devices.set(deviceCode, {
        clientId: client.id,
        userCode,
        scopes: (form.get("scope") ?? "").split(" ").filter((s) => s.length > 0),
        expiresAt: now + 600_000,
        status: "pending",
        interval: 5,
        lastPoll: null
      })
      return Effect.succeed(json(200, {
        device_code: deviceCode,
        user_code: userCode,
        verification_uri: `${baseUrl}/device`,
        verification_uri_complete: `${baseUrl}/device?user_code=${userCode}`,
        expires_in: 600,
        interval: 5
      }))
    }
    if (path === "/.well-known/oauth-authorization-server" || path === "/.well-known/openid-configuration") {
      return Effect.succeed(metadata())
    }
    if (path === "/me" || path.startsWith("/api/") || path.startsWith("/v1/")) {
      return Effect.succeed(resource(request, now))
    }
    return Effect.succeed({
      _tag: "Response",
      status: 404,
      headers: { "content-type": "text/plain" },
      body: "not found"
    })
  }

  const takeFault = (path: string): Fault | undefined => {
    const index = faults.findIndex((fault) => (fault.path ?? "/token") === path)
    if (index < 0) return undefined
    const [fault] = faults.splice(index, 1)
    return fault
  }

  const handle = (request: Request): Effect.Effect<Response> =>
    Effect.gen(function*() {
      if (switches.latencyMillis > 0) yield* Effect.sleep(switches.latencyMillis)
      const fault = takeFault(request.url.pathname)
      if (fault !== undefined) {
        if (fault.delayMillis !== undefined) yield* Effect.sleep(fault.delayMillis)
        if (fault.dropConnection) return { _tag: "Drop" } as const
        if (fault.redirectTo !== undefined) {
          return { _tag: "Response", status: 302, headers: { location: fault.redirectTo }, body: "" } as const
        }
        if (fault.status !== undefined) {
          return {
            _tag: "Response",
            status: fault.status,
            headers: { ...fault.headers },
            body: fault.body ?? ""
          } as const
        }
      }
      return yield* route(request, yield* Clock.currentTimeMillis)
    })

  return {
    handle,
    switches,
    configure: (patch: Partial<Switches>) => Effect.sync(() => void Object.assign(switches, patch)),
    injectFaults: (more: ReadonlyArray<Fault>) => Effect.sync(() => void faults.push(...more)),
    clearFaults: Effect.sync(() => void (faults = [])),
    counters: Effect.sync((): Counters => structuredClone(counters)),
    resetCounters: Effect.sync(() => {
      counters = { tokenRequests: {}, invalidGrant: 0, resourceRequests: {}, revocations: 0 }
    }),
    secret: () => secret,
    resetSecret: Effect.sync(() => {
      secret = randomToken(12)
      for (const grant of grants) revokeGrant(grant)
    }),
    revokeAll: Effect.sync(() => {
      for (const grant of grants) revokeGrant(grant)
    }),
    issueToken: (options: {
      readonly scopes?: ReadonlyArray<string> | undefined
      readonly lifetimeSeconds?: number | null | undefined
      readonly withRefreshToken?: boolean | undefined
    }) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        const grant: Grant = { clientId: confidentialClientId, scopes: options.scopes ?? [], revoked: false }
        grants.add(grant)
        const saved = switches.accessTokenLifetimeSeconds
        if (options.lifetimeSeconds !== undefined) switches.accessTokenLifetimeSeconds = options.lifetimeSeconds
        const issued = issue(grant, now, options.withRefreshToken ?? true)
        switches.accessTokenLifetimeSeconds = saved
        return issued
      }),
    setDevice: (userCode: string, status: "approved" | "denied") =>
      Effect.sync(() => {
        for (const device of devices.values()) if (device.userCode === userCode) device.status = status
      })
  }
}

/** @internal */
export type AuthorizationServer = ReturnType<typeof make>
