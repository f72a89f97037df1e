/**
 * Which requests may carry the bearer token: the decision is made once per request on the hot
 * path, so the trusted origins are normalized once, up front, into a set, and a request's origin is
 * read off its URL string without parsing it whenever that string starts with a trusted origin.
 *
 * @internal
 */
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as UrlParams from "@effect/platform/UrlParams"
import * as Option from "effect/Option"
import { UntrustedOrigin } from "../OAuthError.js"
import { isLoopbackHost } from "./http.js"

/** Origins, or a predicate on the request's URL. @internal */
export type Trusted = ReadonlyArray<string> | ((url: URL) => boolean)

const parse = (url: string): Option.Option<URL> => {
  try {
    return Option.some(new URL(url))
  } catch {
    return Option.none()
  }
}

const secure = (url: URL, allowInsecureHttp: boolean): boolean =>
  url.protocol === "https:" || (url.protocol === "http:" && (allowInsecureHttp || isLoopbackHost(url.hostname)))

// `scheme://authority` of a URL string, up to the first `/`, `?` or `#`. It is only ever compared
// with normalized origins: a string that starts with one, followed by one of those or its end, has
// that origin; anything else (case, default port, userinfo, `\`) takes the parsing path.
const prefixOf = (url: string): string => {
  const start = url.indexOf("://")
  if (start < 0) return url
  let end = start + 3
  while (end < url.length) {
    const c = url.charCodeAt(end)
    if (c === 47 || c === 63 || c === 35) break
    end++
  }
  return url.slice(0, end)
}

/**
 * Builds the check: `undefined` when the request may carry the token, else the error naming its
 * origin and the option that would allow it.
 *
 * @internal
 */
export const make = (options: {
  readonly apiBaseUrl: Option.Option<string>
  readonly trusted: Trusted | undefined
  readonly allowInsecureHttp: boolean
}): (request: HttpClientRequest.HttpClientRequest) => UntrustedOrigin | undefined => {
  const { allowInsecureHttp } = options
  const listed = [
    ...Option.toArray(options.apiBaseUrl),
    ...(Array.isArray(options.trusted) ? options.trusted : [])
  ].flatMap((origin) => Option.toArray(parse(origin)))
  const predicate = typeof options.trusted === "function" ? options.trusted : undefined
  // Origins that are listed but may not get the token over plain http stay out of the fast set.
  const trusted = new Set(listed.filter((url) => secure(url, allowInsecureHttp)).map((url) => url.origin))
  const insecure = new Set(listed.filter((url) => !secure(url, allowInsecureHttp)).map((url) => url.origin))
  const names = [...new Set(listed.map((url) => url.origin))]

  const refuse = (reason: UntrustedOrigin["reason"], origin: string) =>
    new UntrustedOrigin({ reason, origin, trusted: names })

  const slow = (request: HttpClientRequest.HttpClientRequest): UntrustedOrigin | undefined => {
    // The same resolution the HttpClient applies (a relative URL against the page, in a browser).
    const url = UrlParams.makeUrl(request.url, request.urlParams, request.hash)
    if (url._tag === "Left") return refuse("InvalidUrl", "")
    const origin = url.right.origin
    if (trusted.has(origin)) return undefined
    if (!insecure.has(origin) && !(predicate !== undefined && predicate(url.right))) {
      return refuse(names.length === 0 && predicate === undefined ? "NoTrustedOrigin" : "NotTrusted", origin)
    }
    return secure(url.right, allowInsecureHttp) ? undefined : refuse("InsecureHttp", origin)
  }

  return (request) => trusted.has(prefixOf(request.url)) ? undefined : slow(request)
}
