/**
 * effect-oauth on Redis, for fleets: a token store that several processes and hosts share (with a
 * refresh lease, so one of them refreshes per token window), and the provider's rate limit kept
 * across all of them.
 *
 * @packageDocumentation
 */

/**
 * @since 0.1.0
 */
export * as RedisRateLimit from "./RedisRateLimit.js"

/**
 * @since 0.1.0
 */
export * as RedisTokenStore from "./RedisTokenStore.js"
