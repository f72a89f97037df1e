/**
 * Reading what a server sends, once for every reader (token, revocation, discovery, device
 * authorization): the body under a cap counted in decoded bytes, a preview of error pages, and the
 * client's own secrets taken out of any server text before it enters a message, log or span.
 *
 * @internal
 */
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { TokenRequestError } from "../OAuthError.js"

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
