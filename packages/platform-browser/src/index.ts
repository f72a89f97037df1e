/**
 * effect-oauth in the browser: the fetch HTTP client, the redirect login, web storage token stores and
 * one refresh across tabs.
 *
 * @packageDocumentation
 */

/**
 * @since 0.1.0
 */
export * as BrowserOAuth from "./BrowserOAuth.js"

/**
 * @since 0.1.0
 */
export * as WebTokenStore from "./WebTokenStore.js"

/**
 * @since 0.1.0
 */
export * as TabCoordination from "./TabCoordination.js"
