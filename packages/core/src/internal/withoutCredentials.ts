/**
 * What the authorized client hands back — responses and `HttpClientError`s — refers to the request
 * as the caller built it, never to the copy that carried `Authorization: Bearer`: the platform's
 * `RequestError` / `ResponseError` and every response hold their request, and `JSON.stringify`,
 * `util.inspect` or a logger outside a fiber would print its headers in clear.
 *
 * @internal
 */
import * as HttpClientError from "@effect/platform/HttpClientError"
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as IncomingMessage from "@effect/platform/HttpIncomingMessage"
import * as Effect from "effect/Effect"
import * as Inspectable from "effect/Inspectable"
import * as Stream from "effect/Stream"
import { scrub } from "./http.js"

// Causes come from the HTTP client and may be anything: they are copied as plain errors (name,
// message, code, stack, and their own cause, a few levels deep) with the token taken out.
const plainCause = (cause: unknown, secret: string, depth: number): unknown => {
  if (cause === undefined || depth > 4) return undefined
  if (!(cause instanceof Error)) return scrub(String(cause), [secret])
  const inner = plainCause(cause.cause, secret, depth + 1)
  const copy = new Error(scrub(cause.message, [secret]), inner === undefined ? undefined : { cause: inner })
  copy.name = cause.name
  if (cause.stack !== undefined) copy.stack = scrub(cause.stack, [secret])
  const code: unknown = Reflect.get(cause, "code")
  if (typeof code === "string") Object.defineProperty(copy, "code", { value: code, enumerable: true })
  return copy
}

const details = (error: HttpClientError.HttpClientError, secret: string) => ({
  ...(error.description === undefined ? {} : { description: scrub(error.description, [secret]) }),
  ...(error.cause === undefined ? {} : { cause: plainCause(error.cause, secret, 0) })
})

class ResponseWithoutCredentials extends Inspectable.Class implements HttpClientResponse.HttpClientResponse {
  readonly [IncomingMessage.TypeId]: IncomingMessage.TypeId = IncomingMessage.TypeId
  readonly [HttpClientResponse.TypeId]: HttpClientResponse.TypeId = HttpClientResponse.TypeId
  // Private fields: not even a logger that walks own properties finds the sent request.
  readonly #source: HttpClientResponse.HttpClientResponse
  readonly #secret: string

  constructor(
    readonly request: HttpClientRequest.HttpClientRequest,
    source: HttpClientResponse.HttpClientResponse,
    secret: string
  ) {
    super()
    this.#source = source
    this.#secret = secret
  }

  #error(error: HttpClientError.ResponseError): HttpClientError.ResponseError {
    return new HttpClientError.ResponseError({
      request: this.request,
      response: this,
      reason: error.reason,
      ...details(error, this.#secret)
    })
  }

  get status() {
    return this.#source.status
  }
  get headers() {
    return this.#source.headers
  }
  get cookies() {
    return this.#source.cookies
  }
  get remoteAddress() {
    return this.#source.remoteAddress
  }
  get json() {
    return Effect.mapError(this.#source.json, (error) => this.#error(error))
  }
  get text() {
    return Effect.mapError(this.#source.text, (error) => this.#error(error))
  }
  get urlParamsBody() {
    return Effect.mapError(this.#source.urlParamsBody, (error) => this.#error(error))
  }
  get arrayBuffer() {
    return Effect.mapError(this.#source.arrayBuffer, (error) => this.#error(error))
  }
  get formData() {
    return Effect.mapError(this.#source.formData, (error) => this.#error(error))
  }
  get stream() {
    return Stream.mapError(this.#source.stream, (error) => this.#error(error))
  }

  toJSON(): unknown {
    return IncomingMessage.inspect(this, {
      _id: "@effect/platform/HttpClientResponse",
      request: this.request.toJSON(),
      status: this.status
    })
  }
}

/** The response, as one of the caller's request. @internal */
export const response = (
  request: HttpClientRequest.HttpClientRequest,
  source: HttpClientResponse.HttpClientResponse,
  secret: string
): HttpClientResponse.HttpClientResponse => new ResponseWithoutCredentials(request, source, secret)

/** The error, about the caller's request, with a cause free of the token. @internal */
export const error = (
  request: HttpClientRequest.HttpClientRequest,
  error: HttpClientError.HttpClientError,
  secret: string
): HttpClientError.HttpClientError =>
  error._tag === "RequestError"
    ? new HttpClientError.RequestError({ request, reason: error.reason, ...details(error, secret) })
    : new HttpClientError.ResponseError({
      request,
      response: response(request, error.response, secret),
      reason: error.reason,
      ...details(error, secret)
    })
