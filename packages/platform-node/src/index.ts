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
