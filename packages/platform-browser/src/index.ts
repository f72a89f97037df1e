/**
 * @since 0.1.0
 */
export * as BrowserOAuth from "./BrowserOAuth.js"
