/**
 * @since 0.1.0
 */
export * as NodeOAuth from "./NodeOAuth.js"
