/**
 * What effect-oauth needs from a browser. For now: the `fetch`-based HTTP client its token endpoint
 * and `AuthorizedHttpClient` run on. The token endpoint asks `fetch` not to follow redirects
 * (`redirect: "manual"`), so a redirect from a token endpoint is refused, never followed.
 *
 * @since 0.1.0
 */
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import type * as HttpClient from "@effect/platform/HttpClient"
import type * as Layer from "effect/Layer"

/**
 * The browser HTTP client for effect-oauth's layers (`fetch`).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerHttpClient: Layer.Layer<HttpClient.HttpClient> = FetchHttpClient.layer
