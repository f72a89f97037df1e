/**
 * Opening ioredis connections from the package's options: the password only ever leaves its
 * `Redacted` here, into ioredis; what the errors name is the host and port.
 *
 * @internal
 */
import { StoreError } from "@effect-oauth/core/OAuthError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import type { RedisOptions } from "ioredis"
import { Redis } from "ioredis"
import type { ConnectionOptions } from "../RedisTokenStore.js"

/** Why a connection could not be opened: `target` and `detail` hold no credential. */
export interface ConnectFailure {
  readonly target: string
  readonly detail: string
}

/** The longest pause between two reconnection attempts. */
export const reconnectMaxMillis = 500

/** Where the options point, for messages: `host:port`, never the credentials of a URL. */
export const describeTarget = (options: ConnectionOptions): string => {
  if (options.redis?.sentinels !== undefined) return `the Sentinel master "${options.redis.name ?? "mymaster"}"`
  if (options.url !== undefined) {
    try {
      const url = new URL(Redacted.isRedacted(options.url) ? Redacted.value(options.url) : options.url)
      return `${url.hostname}:${url.port === "" ? "6379" : url.port}`
    } catch {
      return "an unparsable Redis URL"
    }
  }
  return `${options.redis?.host ?? "127.0.0.1"}:${options.redis?.port ?? 6379}`
}

/**
 * The first line of an error's message, shortened. ioredis and Redis messages name commands,
 * states and addresses; they do not echo arguments, so no stored value reaches a message.
 */
export const describeError = (error: unknown): string => {
  const message = error instanceof Error ? error.message : String(error)
  const line = message.split("\n")[0] ?? ""
  return line.length > 200 ? `${line.slice(0, 200)}…` : line
}

/** The ioredis options, with the password out of its `Redacted`. */
const redisOptions = (options: ConnectionOptions): RedisOptions => ({
  ...options.redis,
  ...(options.password !== undefined ? { password: Redacted.value(options.password) } : {}),
  lazyConnect: true,
  // Commands fail at once while disconnected instead of queueing: every caller gets a bounded
  // answer, and the store's own retries decide what happens next.
  enableOfflineQueue: false,
  maxRetriesPerRequest: 0,
  connectTimeout: Duration.toMillis(options.connectTimeout ?? Duration.seconds(5)),
  commandTimeout: Duration.toMillis(options.commandTimeout ?? Duration.seconds(2)),
  // Reconnect for ever, quickly: after an outage every process is back within half a second,
  // which the store's recovery window relies on.
  retryStrategy: (times) => Math.min(50 * 2 ** Math.max(0, times - 1), reconnectMaxMillis)
})

const create = (options: ConnectionOptions): Redis => {
  const settings = redisOptions(options)
  return options.url === undefined
    ? new Redis(settings)
    : new Redis(Redacted.isRedacted(options.url) ? Redacted.value(options.url) : options.url, settings)
}

/**
 * Opens a connection and waits until it is ready (bounded by the connect timeout), for the rest of
 * the scope. Once open, it reconnects on its own after any failure.
 */
export const connect = (options: ConnectionOptions): Effect.Effect<Redis, ConnectFailure, Scope.Scope> =>
  Effect.gen(function*() {
    const target = describeTarget(options)
    const redis = yield* Effect.acquireRelease(
      Effect.try({
        try: () => create(options),
        catch: (error): ConnectFailure => ({ target, detail: `invalid options: ${describeError(error)}` })
      }),
      (redis) => Effect.sync(() => redis.disconnect())
    )
    // Failures reach callers through their commands; without a listener ioredis prints every
    // reconnection error to the console. The last one explains a failed start ("Connection is
    // closed" alone does not).
    let lastError: unknown = undefined
    redis.on("error", (error) => {
      lastError = error
    })
    const timeout = Duration.sum(options.connectTimeout ?? Duration.seconds(5), Duration.millis(100))
    yield* Effect.tryPromise({
      try: () => redis.connect(),
      catch: (error): ConnectFailure => ({ target, detail: describeError(lastError ?? error) })
    }).pipe(
      Effect.timeoutFail({
        duration: timeout,
        onTimeout: (): ConnectFailure => ({
          target,
          detail: `no answer within ${Duration.format(timeout)}` +
            (lastError === undefined ? "" : ` (${describeError(lastError)})`)
        })
      }),
      Effect.tapError(() => Effect.sync(() => redis.disconnect()))
    )
    return redis
  })

/**
 * The error of a layer that could not reach Redis when it was built: its address (never a
 * password) and why.
 */
export const unavailable = (failure: ConnectFailure): StoreError =>
  new StoreError({
    reason: "Unavailable",
    detail: `Redis at ${failure.target} cannot be used (${failure.detail}); the layer does not start without it, ` +
      "since a process refreshing on its own would spend refresh tokens that the rest of the fleet still holds"
  })

/** Opens a second connection like `redis` (for a subscriber, which can run no other command). */
export const duplicate = (redis: Redis): Effect.Effect<Redis, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const copy = redis.duplicate()
      copy.on("error", () => {})
      return copy
    }),
    (copy) => Effect.sync(() => copy.disconnect())
  )

/**
 * The ioredis options of `options`, for a connection that another library opens (the rate
 * limiter's store). That connection starts on its own, so its first commands wait in ioredis's
 * queue for it, each still bounded by the command timeout.
 */
export const toRedisOptions = (options: ConnectionOptions): RedisOptions => {
  const { lazyConnect: _, ...managed } = redisOptions(options)
  const settings: RedisOptions = { ...managed, enableOfflineQueue: true }
  if (options.url === undefined) return settings
  const url = new URL(Redacted.isRedacted(options.url) ? Redacted.value(options.url) : options.url)
  return {
    host: url.hostname,
    port: url.port === "" ? 6379 : Number(url.port),
    ...(url.username !== "" ? { username: decodeURIComponent(url.username) } : {}),
    ...(url.password !== "" ? { password: decodeURIComponent(url.password) } : {}),
    ...(url.pathname.length > 1 ? { db: Number(url.pathname.slice(1)) } : {}),
    ...(url.protocol === "rediss:" ? { tls: {} } : {}),
    ...settings
  }
}
