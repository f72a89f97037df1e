/**
 * The client's authenticated POST to its provider, with the client authentication the provider asks
 * for (signed assertions and DPoP proofs included): what a token request, a revocation, a device
 * authorization, an introspection and a pushed authorization request share. A `TokenEndpoint` made
 * by `TokenEndpoint.make` keeps its reader under {@link ReaderId}, so the modules beside it send with
 * the same HTTP client and timeouts without the reader being part of its interface.
 *
 * @internal
 */
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type { ClientConfig } from "../ClientConfig.js"
import { ConfigurationError, isTransient } from "../OAuthError.js"
import type { Provider } from "../Provider.js"
import type { TokenEndpoint } from "../TokenEndpoint.js"
import * as Http from "./http.js"
import * as Reader from "./reader.js"

/** @internal */
export const ReaderId: unique symbol = Symbol.for("@effect-oauth/core/TokenEndpoint/Reader")

/** A token endpoint with its reader (an enumerable key, so a copy `{ ...endpoint }` keeps it). @internal */
export interface WithReader extends TokenEndpoint {
  readonly [ReaderId]: Reader.Reader
}

/**
 * The reader of `endpoint`: one made by hand (a test double) has none, and what needs it says so.
 *
 * @internal
 */
export const readerOf = (endpoint: TokenEndpoint): Effect.Effect<Reader.Reader, ConfigurationError> =>
  ReaderId in endpoint
    ? Effect.succeed((endpoint as WithReader)[ReaderId])
    : new ConfigurationError({
      reason: "InvalidOption",
      detail: "this token endpoint was not made by TokenEndpoint.make, and has no HTTP client"
    })

/** The client secret, the one secret every request of the client may carry. @internal */
export const clientSecrets = (client: ClientConfig): ReadonlyArray<string> =>
  Option.match(client.clientSecret, { onNone: () => [], onSome: (s) => [Redacted.value(s)] })

// The form fields that carry a credential: a server that echoes one must not get it into an error.
const secretFields = new Set([
  "client_secret",
  "client_assertion",
  "code",
  "code_verifier",
  "refresh_token",
  "device_code",
  "password",
  "token"
])

/**
 * One attempt of a form post with the client's authentication; `known` are more secrets to take
 * out of server text (the token a refresh replaces). A signed assertion and a DPoP proof are made
 * afresh for every attempt (a new jti each).
 *
 * @internal
 */
export const post = (
  { client, provider }: { readonly provider: Provider<string>; readonly client: ClientConfig },
  reader: Reader.Reader,
  url: URL,
  form: ReadonlyArray<readonly [string, string]>,
  deadlineAt: number,
  known: ReadonlyArray<Redacted.Redacted<string>> = []
): Effect.Effect<Readonly<Record<string, unknown>>, Reader.Failure> => {
  const { clientAssertion, dpop } = provider.extensions ?? {}
  const attempt = (headers: Record<string, string>) =>
    Effect.flatMap(
      clientAssertion === undefined
        ? Effect.succeed(Http.authenticate(provider, client, form))
        : clientAssertion.authenticate(client, provider, form),
      (authenticated) =>
        Reader.send(
          reader,
          HttpClientRequest.post(url).pipe(
            HttpClientRequest.setHeaders({ accept: "application/json", ...authenticated.headers, ...headers }),
            HttpClientRequest.bodyUrlParams(authenticated.form)
          ),
          [
            ...authenticated.form.filter(([name]) => secretFields.has(name)).map(([, value]) => value),
            ...known.map(Redacted.value)
          ],
          deadlineAt
        )
    )
  return dpop === undefined ? attempt({}) : dpop.tokenRequest(url.href, attempt)
}

/**
 * Posts a form to one of the provider's endpoints with the client's authentication, and reads a
 * JSON object back, retrying what is transient (device authorization, introspection, PAR).
 *
 * @internal
 */
export const postForm = (
  endpoint: TokenEndpoint,
  url: string,
  form: ReadonlyArray<readonly [string, string]>
): Effect.Effect<Readonly<Record<string, unknown>>, Reader.Failure> =>
  Effect.flatMap(readerOf(endpoint), (reader) =>
    Effect.flatMap(
      Http.checkEndpoint(url, endpoint.provider.allowInsecureHttp),
      (parsed) =>
        Reader.withRetries(reader, (deadlineAt) => post(endpoint, reader, parsed, form, deadlineAt), isTransient)
    ))
