/**
 * A provider's rate limit, kept for every request of one client: never more than `limit` requests
 * in **any** window of `interval` (a sliding window, the first one included). Every slot, user and
 * `AuthorizedHttpClient` of a client takes its turn from the same `RateLimit` service, keyed by
 * provider and client, so one process (`layerMemory`) or a whole fleet (a shared
 * `@effect/experimental` `RateLimiterStore`, e.g. Redis: `layerStore`) stays under the limit.
 *
 * It runs on `@effect/experimental`'s `RateLimiter` (token bucket, delaying rather than failing).
 * A token bucket of capacity `limit` lets `2 × limit` requests through a window that starts with a
 * full bucket; so the bucket here holds a small burst `b` and refills `limit − b − 1` tokens per
 * `interval`: a window sees at most the burst, the refills inside it, and one refill that a delayed
 * caller may carry over from just before it — `b + (limit − b − 1) + 1 = limit`.
 *
 * @since 0.1.0
 */
import * as RateLimiter from "@effect/experimental/RateLimiter"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type { RateLimit as Rule } from "./Provider.js"

/**
 * Takes turns under rate limits.
 *
 * @since 0.1.0
 * @category tags
 */
export class RateLimit extends Context.Tag("@effect-oauth/core/RateLimit")<RateLimit, RateLimit.Service>() {}

/**
 * @since 0.1.0
 * @category models
 */
export declare namespace RateLimit {
  /**
   * @since 0.1.0
   * @category models
   */
  export interface Service {
    /**
     * Waits until one more request under `key` keeps `rule`, and counts it. A limiter whose store
     * fails lets the request go (and logs it): an unreachable shared store must not stop the API.
     */
    readonly take: (key: string, rule: Pick<Rule, "limit" | "interval">) => Effect.Effect<void>
  }
}

/**
 * A provider's rate limit: at most `limit` requests in any window of `interval`. A client whose
 * context has no shared `RateLimit` keeps it with a limiter of its own, in memory.
 *
 * @since 0.1.0
 * @category constructors
 */
export const rule = (options: {
  /** The most requests in any window. */
  readonly limit: number
  /** The window. */
  readonly interval: Duration.DurationInput
}): Rule => ({ limit: options.limit, interval: Duration.decode(options.interval), own })

// The bucket that keeps `rule` in any window: its burst and the time between two refills.
const bucketOf = (
  rule: Pick<Rule, "limit" | "interval">
): { readonly burst: number; readonly refillMillis: number } => {
  const limit = Math.max(1, Math.floor(rule.limit))
  const burst = Math.max(1, Math.floor(limit / 12))
  const refills = Math.max(1, limit - burst - 1)
  return { burst, refillMillis: Math.ceil(Duration.toMillis(rule.interval) / refills) }
}

/**
 * The service over any `@effect/experimental` `RateLimiterStore`: the memory store for one
 * process, a shared store (Redis) for a fleet.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<RateLimit.Service, never, RateLimiter.RateLimiterStore> = /* @__PURE__ */ Effect.map(
  RateLimiter.make,
  (limiter) => ({
    take: (key, rule) => {
      const { burst, refillMillis } = bucketOf(rule)
      return limiter.consume({
        key,
        algorithm: "token-bucket",
        onExceeded: "delay",
        limit: burst,
        window: Duration.millis(burst * refillMillis)
      }).pipe(
        Effect.flatMap(({ delay }) => Duration.isZero(delay) ? Effect.void : Effect.sleep(delay)),
        Effect.catchAll((error) =>
          Effect.logWarning("rate limit store failed; sending without waiting").pipe(
            Effect.annotateLogs({ "oauth.rate_limit.key": key, "oauth.rate_limit.error": error.reason })
          )
        )
      )
    }
  })
)

/**
 * The limits of one process, shared by every client built under it.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory: Layer.Layer<RateLimit> = /* @__PURE__ */ Layer.provide(
  /* @__PURE__ */ Layer.effect(RateLimit, make),
  RateLimiter.layerStoreMemory
)

/**
 * The limits over a `RateLimiterStore` that the application provides (e.g. the Redis store of
 * `@effect/experimental`, shared by a fleet).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerStore: Layer.Layer<RateLimit, never, RateLimiter.RateLimiterStore> = /* @__PURE__ */ Layer.effect(
  RateLimit,
  make
)

// A limiter of the caller's own, in memory (a new one each time it runs).
const own: Effect.Effect<RateLimit.Service> = /* @__PURE__ */ Effect.provide(RateLimit, layerMemory)

/**
 * The `RateLimit` of the context, or else `own` (e.g. a rule's limiter of the client's own).
 *
 * @since 0.1.0
 * @category constructors
 */
export const sharedOr = (own: Effect.Effect<RateLimit.Service>): Effect.Effect<RateLimit.Service> =>
  Effect.flatMap(Effect.serviceOption(RateLimit), Option.match({ onNone: () => own, onSome: Effect.succeed }))

/**
 * The `RateLimit` of the context, or else limits of the caller's own (in memory): what a client
 * built without a shared one keeps by itself.
 *
 * @since 0.1.0
 * @category constructors
 */
export const sharedOrOwn: Effect.Effect<RateLimit.Service> = /* @__PURE__ */ sharedOr(own)

/**
 * The key of one client's limit at one provider.
 *
 * @since 0.1.0
 * @category constructors
 */
export const keyOf = (providerName: string, clientId: string): string => `effect-oauth/${providerName}/${clientId}`
