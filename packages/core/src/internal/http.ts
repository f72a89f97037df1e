/**
 * Reading what a server sends, once for every reader (token, revocation, discovery, device
 * authorization): the body under a cap counted in decoded bytes, a preview of error pages, and the
 * client's own secrets taken out of any server text before it enters a message, log or span.
 *
 * @internal
 */
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import type { ClientConfig } from "../ClientConfig.js"
import { ConfigurationError, TokenRequestError } from "../OAuthError.js"
import type { ErrorBody, Provider } from "../Provider.js"
import { base64 } from "./crypto.js"
import * as RetryAfter from "./retryAfter.js"

/** The largest response body read (1 MiB). @internal */
export const maxBodyBytes = 1024 * 1024

/** `localhost`, `127.0.0.0/8` and `[::1]`: where plain HTTP stays on the machine. @internal */
export const isLoopbackHost = (hostname: string): boolean =>
  hostname === "localhost" || hostname === "[::1]" || hostname === "::1" || /^127(\.\d{1,3}){3}$/.test(hostname)

/**
 * Reads a body as text, counting the bytes the HTTP client hands over (decoded, when it decodes
 * `Content-Encoding`) as they stream, and stops past `maxBodyBytes`. Neither `Content-Length` nor
 * `Content-Encoding` is trusted: a 300 KiB gzip body can decode to gigabytes.
 *
 * @internal
 */
export const readCapped = (
  response: HttpClientResponse.HttpClientResponse
): Effect.Effect<string, TokenRequestError> =>
  response.stream.pipe(
    Stream.catchAll((error) =>
      error.reason === "EmptyBody"
        ? Stream.empty
        : Stream.fail(
          new TokenRequestError({
            reason: "Transport",
            kind: "Network",
            detail: `${error.reason} while reading the body`
          })
        )
    ),
    Stream.runFoldEffect(
      { size: 0, chunks: Chunk.empty<Uint8Array>() },
      (acc, chunk: Uint8Array) =>
        acc.size + chunk.length > maxBodyBytes
          ? Effect.fail(
            new TokenRequestError({
              reason: "InvalidResponse",
              kind: "BodyTooLarge",
              status: response.status,
              detail: `the body is larger than ${maxBodyBytes} bytes; reading stopped there`
            })
          )
          : Effect.succeed({ size: acc.size + chunk.length, chunks: Chunk.append(acc.chunks, chunk) })
    ),
    Effect.map(({ chunks, size }) => {
      const bytes = new Uint8Array(size)
      let offset = 0
      for (const chunk of chunks) {
        bytes.set(chunk, offset)
        offset += chunk.length
      }
      return new TextDecoder().decode(bytes)
    })
  )

/** Reads a response's body and drops it, so the connection is reused. @internal */
export const discard = (response: HttpClientResponse.HttpClientResponse): Effect.Effect<void> =>
  Effect.ignore(response.arrayBuffer)

/** What replaces a secret in server text. @internal */
export const redacted = "<redacted>"

/** `application/x-www-form-urlencoded` encoding of one value (RFC 6749 §2.3.1 uses it for Basic). @internal */
export const formEncode = (value: string): string => new URLSearchParams([["", value]]).toString().slice(1)

/**
 * Replaces every occurrence of the given secrets in server text with `<redacted>`, longest first
 * (so a secret containing another is taken out whole), in their plain and encoded spellings: a
 * server may echo a value as it was sent in the form.
 *
 * @internal
 */
export const scrub = (text: string, secrets: ReadonlyArray<string>): string => {
  if (secrets.length === 0 || text.length === 0) return text
  const spellings = new Set<string>()
  for (const secret of secrets) {
    if (secret.length === 0) continue
    spellings.add(secret)
    spellings.add(formEncode(secret))
    spellings.add(encodeURIComponent(secret))
  }
  let result = text
  for (const secret of [...spellings].sort((a, b) => b.length - a.length)) {
    if (result.includes(secret)) result = result.split(secret).join(redacted)
  }
  return result
}

/**
 * A short, tag-free preview of a non-JSON body (an error page) for error messages, with the
 * client's secrets taken out first, before tags are stripped, so a secret holding `<` or `>`
 * cannot be split around the scrubbing.
 *
 * @internal
 */
export const preview = (body: string, secrets: ReadonlyArray<string>): string =>
  scrub(body, secrets)
    .replace(/<(script|style)[\s\S]*?<\/\1>/gi, " ")
    .replace(/<(?!redacted>)[^>]*>/g, " ")
    .replace(/\s+/g, " ")
    .trim()
    .slice(0, 100)

/**
 * The URL of an endpoint, if it is one a token may be sent to: https:, or http: on a loopback host,
 * or insecure HTTP allowed explicitly.
 *
 * @internal
 */
export const checkEndpoint = (
  url: string,
  allowInsecureHttp: boolean
): Either.Either<URL, ConfigurationError> => {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    return Either.left(new ConfigurationError({ reason: "InvalidUrl", detail: `${url} is not a valid URL` }))
  }
  if (parsed.protocol === "https:") return Either.right(parsed)
  if (parsed.protocol === "http:" && (isLoopbackHost(parsed.hostname) || allowInsecureHttp)) {
    return Either.right(parsed)
  }
  return Either.left(
    new ConfigurationError({
      reason: "InsecureUrl",
      detail: `${parsed.origin} is not https: use an https endpoint (http is allowed only on loopback, or with ` +
        "allowInsecureHttp)"
    })
  )
}

/**
 * The client's authentication for a form post, as the provider asks: HTTP Basic, the secret in the
 * form, or the client id alone (a public client).
 *
 * @internal
 */
export const authenticate = (
  provider: Provider<string>,
  client: ClientConfig,
  form: ReadonlyArray<readonly [string, string]>
): { readonly headers: Record<string, string>; readonly form: ReadonlyArray<readonly [string, string]> } => {
  if (Option.isNone(client.clientSecret) || provider.clientAuthentication === "none") {
    return { headers: {}, form: [...form, ["client_id", client.clientId]] }
  }
  const secret = Redacted.value(client.clientSecret.value)
  if (provider.clientAuthentication === "client_secret_post") {
    return { headers: {}, form: [...form, ["client_id", client.clientId], ["client_secret", secret]] }
  }
  return {
    // RFC 6749 §2.3.1: the client id and secret are form-encoded before they are joined for Basic.
    headers: {
      authorization: `Basic ${base64(new TextEncoder().encode(`${formEncode(client.clientId)}:${formEncode(secret)}`))}`
    },
    form
  }
}

const rfcCodes = new Set(["server_error", "temporarily_unavailable"])

const parseJson = (text: string): Option.Option<unknown> => {
  try {
    return Option.some(JSON.parse(text))
  } catch {
    return Option.none()
  }
}

const isRecord = (u: unknown): u is Readonly<Record<string, unknown>> =>
  typeof u === "object" && u !== null && !Array.isArray(u)

// The server's text is scrubbed here, before it can enter an error's message, a log line or a span.
const errorBodyOf = (
  provider: ErrorBodies,
  status: number,
  body: Readonly<Record<string, unknown>>,
  secrets: ReadonlyArray<string>
): Option.Option<ErrorBody> =>
  Option.map(
    Option.orElse(provider.classifyError(status, body), () =>
      typeof body.error === "string"
        ? Option.some({
          error: body.error,
          description: typeof body.error_description === "string" ? body.error_description : undefined,
          uri: typeof body.error_uri === "string" ? body.error_uri : undefined
        })
        : Option.none()),
    (error) => ({
      error: scrub(error.error, secrets),
      description: error.description === undefined ? undefined : scrub(error.description, secrets),
      uri: error.uri === undefined ? undefined : scrub(error.uri, secrets)
    })
  )

const transient = (status: number, preview: string, retryAfter: Option.Option<number>) =>
  new TokenRequestError({
    reason: "Transient",
    status,
    ...(preview === "" ? {} : { description: preview }),
    ...(Option.isSome(retryAfter) ? { retryAfterMillis: retryAfter.value } : {})
  })

const fromErrorBody = (status: number, error: ErrorBody, retryAfter: Option.Option<number>): TokenRequestError => {
  if (error.error === "invalid_client") {
    return new TokenRequestError({
      reason: "ClientAuthentication",
      error: error.error,
      status,
      ...(error.description ? { description: error.description } : {})
    })
  }
  if (status === 429) return rateLimited(status, retryAfter)
  if (rfcCodes.has(error.error) || status >= 500) {
    return transient(status, preview(error.description ?? error.error, []), retryAfter)
  }
  return new TokenRequestError({
    reason: "ErrorResponse",
    error: error.error,
    status,
    ...(error.description !== undefined ? { description: error.description } : {}),
    ...(error.uri !== undefined ? { uri: error.uri } : {})
  })
}

const rateLimited = (status: number, retryAfter: Option.Option<number>) =>
  new TokenRequestError({
    reason: "RateLimited",
    status,
    ...(Option.isSome(retryAfter) ? { retryAfterMillis: retryAfter.value } : {})
  })

/** Where a provider's own error shapes are read: all a response reader needs of it. @internal */
export type ErrorBodies = Pick<Provider<string>, "classifyError">

/**
 * Reads a provider's answer: a JSON object from a 2xx, or the typed error its status and body say
 * (the provider's own error shapes included), with the client's secrets taken out of any server text.
 *
 * @internal
 */
export const readResponse = (
  provider: ErrorBodies,
  response: HttpClientResponse.HttpClientResponse,
  secrets: ReadonlyArray<string>
): Effect.Effect<Readonly<Record<string, unknown>>, TokenRequestError> =>
  Effect.gen(function*() {
    const status = response.status
    // Status 0 is what a browser's fetch shows of a redirect it was told not to follow.
    if (status === 0 || (status >= 300 && status < 400)) {
      return yield* new TokenRequestError({
        reason: "InvalidResponse",
        kind: "Redirect",
        status,
        detail: "the endpoint redirected; redirects are never followed from a token endpoint"
      })
    }
    const now = yield* Clock.currentTimeMillis
    const retryAfter = RetryAfter.parse(response.headers["retry-after"], now)
    const text = yield* readCapped(response)
    const json = parseJson(text)
    if (status >= 200 && status < 300) {
      if (Option.isNone(json)) {
        return yield* invalid("NotJson", status, "the body is not JSON")
      }
      if (!isRecord(json.value)) {
        return yield* invalid("NotObject", status, "the body is not a JSON object")
      }
      if (json.value.access_token === undefined) {
        const error = errorBodyOf(provider, status, json.value, secrets)
        if (Option.isSome(error)) return yield* fromErrorBody(status, error.value, retryAfter)
      }
      return json.value
    }
    const error = Option.flatMap(Option.filter(json, isRecord), (body) => errorBodyOf(provider, status, body, secrets))
    if (Option.isSome(error)) return yield* fromErrorBody(status, error.value, retryAfter)
    if (status === 429) return yield* rateLimited(status, retryAfter)
    // Only a body that is not JSON is previewed: a JSON body might echo a credential.
    if (status >= 500) {
      return yield* transient(status, Option.isSome(json) ? "" : preview(text, secrets), retryAfter)
    }
    return yield* invalid(
      "UnexpectedStatus",
      status,
      "the server answered with an error status and no OAuth error body"
    )
  })

const invalid = (kind: "NotJson" | "NotObject" | "UnexpectedStatus", status: number, detail: string) =>
  new TokenRequestError({ reason: "InvalidResponse", kind, status, detail })
