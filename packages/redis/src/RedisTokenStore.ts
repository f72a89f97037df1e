/**
 * A `TokenStore` in Redis, for a fleet of processes (and hosts) that share their tokens: every
 * process reads the slot's current token from Redis, one of them refreshes it per token window,
 * and the others adopt the result instead of spending a refresh token that the provider has
 * already rotated.
 *
 * - Writes and removals are a compare-and-set in one Lua script each (the version check and the
 *   write, atomically); a conflict answers the value stored now.
 * - `withRefreshLock` is a lease: `SET NX PX` with a unique owner, renewed while the refresh runs
 *   and released by a compare-and-delete script. Waiters are told over pub/sub when it is
 *   released (with a bounded poll as fallback), take it in turn and find the new token under it.
 *   The lease only saves work: if it is lost (a long pause, a failover), the version check still
 *   refuses the late refresh's write.
 * - Redis unreachable at start: the layer fails with a `StoreError` (`Unavailable`: a fleet member that
 *   refreshed on its own would spend the refresh tokens the others hold). Later outages and slow
 *   answers are bounded by the command timeout; refreshes wait for Redis (up to `lockTimeout`)
 *   rather than run without the lease, and after every reconnection each process writes back
 *   the newest token it holds (unless Redis has a newer one) and no lease is granted for
 *   `recoveryWindow`, so a Redis that came back empty gets the current token before anyone
 *   refreshes from it.
 * - A value under a key that is not a readable stored token is absent (logged, redacted).
 *
 * Values are the core's stored-token JSON (tokens in clear); wrap the layer in
 * `TokenStore.encrypted` to keep them encrypted at rest.
 *
 * @since 0.1.0
 */
import type { StoreError } from "@effect-oauth/core/OAuthError"
import { TokenStore } from "@effect-oauth/core/TokenStore"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import type { RedisOptions } from "ioredis"
import { unavailable } from "./internal/connection.js"
import * as internal from "./internal/tokenStore.js"

/**
 * How to reach Redis: a URL, ioredis options (host, port, TLS, Sentinel, …) or both, the
 * password apart as a `Redacted`, and the timeouts every command is bounded by.
 *
 * @since 0.1.0
 * @category models
 */
export interface ConnectionOptions {
  /**
   * `redis://[[user][:password]@]host[:port][/db]` or `rediss://…` for TLS; default
   * `redis://127.0.0.1:6379`. Give it as a `Redacted` when it holds a password.
   */
  readonly url?: string | Redacted.Redacted<string> | undefined
  /** The password (Redis `AUTH`), for instance from `Config.redacted("REDIS_PASSWORD")`. */
  readonly password?: Redacted.Redacted<string> | undefined
  /**
   * Further ioredis options, such as `{ sentinels, name }` for Sentinel or `tls`. Those the package
   * relies on (timeouts, reconnection, the offline queue) are its own.
   */
  readonly redis?:
    | Omit<
      RedisOptions,
      | "password"
      | "lazyConnect"
      | "enableOfflineQueue"
      | "connectTimeout"
      | "commandTimeout"
      | "maxRetriesPerRequest"
      | "retryStrategy"
      | "keyPrefix"
    >
    | undefined
  /** How long the first connection may take; default 5 seconds. */
  readonly connectTimeout?: Duration.DurationInput | undefined
  /** How long one command may take (a slow or paused server); default 2 seconds. */
  readonly commandTimeout?: Duration.DurationInput | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Options extends ConnectionOptions {
  /** Prepended to every Redis key and to the channel; default `"effect-oauth:"`. */
  readonly prefix?: string | undefined
  /**
   * How long a refresh lease lives without renewal; default 10 seconds. The holder renews it every
   * third of that while its refresh runs, so this is how long the others wait after the holder
   * died mid-refresh.
   */
  readonly leaseTtl?: Duration.DurationInput | undefined
  /** How long a refresh waits for the lease before failing with a `StoreError`; default 30 seconds. */
  readonly lockTimeout?: Duration.DurationInput | undefined
  /** How often a waiter looks at the lease when no announcement arrives; default 100 ms. */
  readonly pollInterval?: Duration.DurationInput | undefined
  /**
   * After a reconnection, how long no lease is granted, so every process can write back the token
   * it holds first; default 2 seconds (four times the longest pause between reconnection attempts).
   */
  readonly recoveryWindow?: Duration.DurationInput | undefined
}

/**
 * Builds the store on a new connection, closed with the scope.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options = {}): Effect.Effect<TokenStore.Service, StoreError, Scope.Scope> =>
  internal.make(options, {
    prefix: options.prefix ?? "effect-oauth:",
    leaseTtl: Duration.decode(options.leaseTtl ?? Duration.seconds(10)),
    lockTimeout: Duration.decode(options.lockTimeout ?? Duration.seconds(30)),
    pollInterval: Duration.decode(options.pollInterval ?? Duration.millis(100)),
    recoveryWindow: Duration.decode(options.recoveryWindow ?? Duration.seconds(2))
  }).pipe(Effect.mapError(unavailable))

/**
 * The Redis token store.
 *
 * @example
 * ```ts
 * import { RedisTokenStore } from "@effect-oauth/redis"
 *
 * const store = RedisTokenStore.layer({ url: "redis://127.0.0.1:6379", prefix: "my-bot:" })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options?: Options): Layer.Layer<TokenStore, StoreError> => Layer.scoped(TokenStore, make(options))

/**
 * The environment's connection: `REDIS_URL` (a secret, default `redis://127.0.0.1:6379`) and the
 * optional `REDIS_PASSWORD`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const connectionConfig: Config.Config<ConnectionOptions> = Config.all({
  url: Config.option(Config.redacted("REDIS_URL")),
  password: Config.option(Config.redacted("REDIS_PASSWORD"))
}).pipe(
  Config.map(({ password, url }) => ({ url: Option.getOrUndefined(url), password: Option.getOrUndefined(password) }))
)

/**
 * The Redis token store, configured from a `Config` (default {@link connectionConfig}).
 *
 * @example
 * ```ts
 * import { RedisTokenStore } from "@effect-oauth/redis"
 * import { Config } from "effect"
 *
 * // REDIS_URL and REDIS_PASSWORD from the environment, with this process's own prefix.
 * const store = RedisTokenStore.layerConfig(
 *   Config.map(RedisTokenStore.connectionConfig, (connection) => ({ ...connection, prefix: "my-bot:" }))
 * )
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  config: Config.Config<Options> = connectionConfig
): Layer.Layer<TokenStore, StoreError | ConfigError.ConfigError> => Layer.unwrapEffect(Effect.map(config, layer))
