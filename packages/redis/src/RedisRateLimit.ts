/**
 * The provider's rate limit for a whole fleet: the core's `RateLimit` service (never more than
 * `limit` requests in any window of `interval`) on `@effect/experimental`'s `RateLimiter` with its
 * Redis store, so every process of every host that shares the Redis takes its turns from one
 * bucket per provider and client (osu!: 60 a minute, for all of them together).
 *
 * The bucket runs on each caller's clock: hosts must keep their clocks in step (NTP); a skew
 * between two hosts shifts their turns by as much. If Redis cannot be reached, the core's service
 * lets requests go (and logs it) rather than stop the API; see `RateLimit` in the core.
 *
 * @since 0.1.0
 */
import type { StoreError } from "@effect-oauth/core/OAuthError"
import * as RateLimit from "@effect-oauth/core/RateLimit"
import * as RateLimiter from "@effect/experimental/RateLimiter"
import * as RateLimiterRedis from "@effect/experimental/RateLimiter/Redis"
import type * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { connect, toRedisOptions, unavailable } from "./internal/connection.js"
import type { ConnectionOptions } from "./RedisTokenStore.js"
import { connectionConfig } from "./RedisTokenStore.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options extends ConnectionOptions {
  /** Prepended to every bucket's Redis key; default `"effect-oauth:ratelimit:"`. */
  readonly prefix?: string | undefined
}

/**
 * The core's `RateLimit` on a Redis shared by the fleet. Building it checks that Redis answers
 * (else a `StoreError`, reason `Unavailable`), so a misconfigured process fails at start rather than run unlimited.
 *
 * @example
 * ```ts
 * import { RedisRateLimit } from "@effect-oauth/redis"
 *
 * const rateLimit = RedisRateLimit.layer({ url: "redis://127.0.0.1:6379" })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options = {}): Layer.Layer<RateLimit.RateLimit, StoreError> =>
  RateLimit.layerStore.pipe(
    Layer.provide(Layer.scoped(
      RateLimiter.RateLimiterStore,
      Effect.gen(function*() {
        // A connection of our own, only to find out now whether Redis answers: the store's
        // connection starts in the background and would only tell on the first request.
        yield* Effect.scoped(connect(options)).pipe(Effect.mapError(unavailable))
        // The store's declaration spells ioredis's options without `| undefined` on two optional
        // fields (`disconnectTimeout`, `tls`), which `exactOptionalPropertyTypes` tells apart;
        // they are the same options.
        const redisOptions = toRedisOptions(options) as Parameters<typeof RateLimiterRedis.make>[0]
        return yield* RateLimiterRedis.make({ ...redisOptions, prefix: options.prefix ?? "effect-oauth:ratelimit:" })
      })
    ))
  )

/**
 * The fleet's rate limit, configured from a `Config` (default `RedisTokenStore.connectionConfig`:
 * `REDIS_URL` and `REDIS_PASSWORD`).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  config: Config.Config<Options> = connectionConfig
): Layer.Layer<RateLimit.RateLimit, StoreError | ConfigError.ConfigError> =>
  Layer.unwrapEffect(Effect.map(config, layer))
