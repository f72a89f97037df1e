/**
 * effect-oauth on Node.js: the HTTP client, the loopback login, the device-flow prompt and the file
 * token store, each as a layer, and `NodeOAuth.layer` with all of them.
 *
 * @packageDocumentation
 */

/**
 * @since 0.1.0
 */
export * as NodeOAuth from "./NodeOAuth.js"

/**
 * @since 0.1.0
 */
export * as FileTokenStore from "./FileTokenStore.js"

/**
 * @since 0.1.0
 */
export * as LoopbackLogin from "./LoopbackLogin.js"

/**
 * @since 0.1.0
 */
export * as DevicePrompt from "./DevicePrompt.js"
