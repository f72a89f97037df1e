/**
 * What effect-oauth needs from Node.js. For now: the HTTP client its token endpoint and
 * `AuthorizedHttpClient` run on (undici, Node's own `fetch` engine), with redirects left alone so
 * the token endpoint can refuse them.
 *
 * @since 0.1.0
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import type * as HttpClient from "@effect/platform/HttpClient"
import type * as Layer from "effect/Layer"

/**
 * The Node HTTP client for effect-oauth's layers (undici).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerHttpClient: Layer.Layer<HttpClient.HttpClient> = NodeHttpClient.layerUndici
