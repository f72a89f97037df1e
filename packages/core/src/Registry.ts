/**
 * Many users of one client in one process, for servers acting for thousands of users: one slot per
 * user id, handed out by `get`, with an authorized `HttpClient` per user (`httpClient`). Every
 * user's slot shares the client's token endpoint, its rate limit and one scheduler fiber, so an idle
 * user costs about a kilobyte beyond its token and no fiber. A slot unused for `idleTimeToLive` is evicted (its
 * token stays in the store and is read again on the next use); `remove` signs a user out. What
 * `get` and `httpClient` hand out may be kept: after an eviction, its next use reopens the user's
 * slot, so a kept handle and a new one always share one slot.
 *
 * @since 0.1.0
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import * as Clock from "effect/Clock"
import type * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as AuthorizedHttpClient from "./AuthorizedHttpClient.js"
import type { ClientConfig } from "./ClientConfig.js"
import { makeEngine, serviceOf } from "./internal/client.js"
import type * as Engine from "./internal/engine.js"
import * as Scheduler from "./internal/scheduler.js"
import * as OAuthClient from "./OAuthClient.js"
import type { ConfigurationError, StoreError, TokenRequestError } from "./OAuthError.js"
import * as RateLimit from "./RateLimit.js"
import type { TokenStore } from "./TokenStore.js"

/**
 * The users of one client.
 *
 * @since 0.1.0
 * @category tags
 */
export class Registry extends Context.Tag("@effect-oauth/core/Registry")<Registry, Registry.Service>() {}

/**
 * @since 0.1.0
 * @category models
 */
export declare namespace Registry {
  /**
   * @since 0.1.0
   * @category models
   */
  export interface Service {
    /**
     * The user's slot (opened, reading the store, on first use). The handle may be kept: once the
     * slot is evicted, its next use reopens it (reading the store again).
     */
    readonly get: (userId: string) => Effect.Effect<OAuthClient.OAuthClient.Service>
    /** An `HttpClient` that spends the user's tokens (see `AuthorizedHttpClient`); it may be kept too. */
    readonly httpClient: (userId: string) => Effect.Effect<HttpClient.HttpClient.With<AuthorizedHttpClient.Error>>
    /** Signs the user out: revokes at the provider where it can, deletes the stored token, forgets the slot. */
    readonly remove: (userId: string) => Effect.Effect<void, TokenRequestError | ConfigurationError | StoreError>
    /** How many users' slots are open. */
    readonly size: Effect.Effect<number>
  }
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Options extends Omit<OAuthClient.Options, "session" | "key"> {
  /** How long an unused slot stays open (default 5 minutes). */
  readonly idleTimeToLive?: Duration.DurationInput | undefined
  /**
   * How many background refreshes run at once (default 2). Each costs four fibers while it runs
   * (its own, the two of its request's timeout, its body's reader), so the default keeps the
   * registry under ten live fibers whatever the number of users. Raise it when many users' tokens
   * expire together at a slow token endpoint: the refreshes of a burst then overlap more.
   */
  readonly refreshConcurrency?: number | undefined
  /** The store key of a user's slot (default `OAuthClient.defaultKey`). */
  readonly keyOf?: ((userId: string) => string) | undefined
  /** Options of every user's authorized client. */
  readonly http?: AuthorizedHttpClient.Options | undefined
}

interface Entry {
  readonly slot: Engine.SlotData
  http: HttpClient.HttpClient.With<AuthorizedHttpClient.Error> | undefined
}

/**
 * Builds the registry in the current scope. The users share the `RateLimit` of the context, or one
 * of the registry's own.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: Options
): Effect.Effect<Registry.Service, never, HttpClient.HttpClient | TokenStore | Scope.Scope> =>
  Effect.gen(function*() {
    // With the scheduler's loop and timer, two refreshes at a time keep ten fibers alive at most.
    const engine = yield* makeEngine(options, Option.none(), options.refreshConcurrency ?? 2)
    const context = yield* Effect.context<HttpClient.HttpClient | TokenStore | Scope.Scope>()
    const scope = yield* Effect.scope
    const rateLimit = yield* RateLimit.sharedOrOwn
    const idleMillis = Duration.toMillis(options.idleTimeToLive ?? Duration.minutes(5))
    const keyOf = options.keyOf ??
      ((userId: string) => OAuthClient.defaultKey(options.provider, options.client, OAuthClient.user(userId)))
    const entries = new Map<string, Entry>()
    const opening = new Map<string, Deferred.Deferred<Entry>>()

    const entry = (userId: string): Effect.Effect<Entry> =>
      Effect.suspend(() => {
        const open = entries.get(userId)
        if (open !== undefined) return Effect.succeed(open)
        const pending = opening.get(userId)
        if (pending !== undefined) return Deferred.await(pending)
        const deferred = Deferred.unsafeMake<Entry>(FiberId.none)
        opening.set(userId, deferred)
        // Opened in the registry's scope, not the caller's fiber: a caller interrupted while the
        // store is read (a client that disconnects) does not leave the user's slot half open.
        return engine.open(keyOf(userId)).pipe(
          Effect.map((slot) => {
            const created: Entry = { slot, http: undefined }
            entries.set(userId, created)
            opening.delete(userId)
            Deferred.unsafeDone(deferred, Exit.succeed(created))
            return created
          }),
          Effect.forkIn(scope),
          Effect.zipRight(Deferred.await(deferred))
        )
      })

    // A handle on the user's slot that outlives the slot: each use goes to the slot open now,
    // reopening it (from the store) after an eviction, so no two slots of one user ever coexist.
    const handle = (userId: string, first: Entry): OAuthClient.OAuthClient.Service => {
      let current = first
      const live = Effect.suspend(() =>
        current.slot.closed ? Effect.map(entry(userId), (e) => (current = e).slot) : Effect.succeed(current.slot)
      )
      return serviceOf<string>(engine, first.slot.key, live, options.provider, options.client.clientId)
    }

    const get = (userId: string) => Effect.map(entry(userId), (e) => handle(userId, e))

    const httpClient = (userId: string) =>
      Effect.flatMap(entry(userId), (e) => {
        if (e.http !== undefined) return Effect.succeed(e.http)
        return AuthorizedHttpClient.make(options.http).pipe(
          Effect.provideService(OAuthClient.OAuthClient, handle(userId, e)),
          Effect.provideService(RateLimit.RateLimit, rateLimit),
          Effect.provide(context),
          Effect.tap((http) =>
            Effect.sync(() => {
              e.http = http
            })
          )
        )
      })

    const remove = (userId: string) =>
      Effect.flatMap(entry(userId), (e) =>
        engine.revoke(e.slot).pipe(
          Effect.ensuring(Effect.sync(() => {
            engine.close(e.slot)
            entries.delete(userId)
          }))
        ))

    // Eviction runs as a task of the scheduler, so it costs no fiber of its own either.
    const period = Math.max(1_000, idleMillis / 2)
    const sweeper: Scheduler.Task = Scheduler.task(Effect.clockWith((clock) =>
      Effect.sync(() => {
        const now = clock.unsafeCurrentTimeMillis()
        for (const [userId, e] of entries) {
          // A slot someone watches (`changes`) is in use, however long since its last token.
          const { slot } = e
          if (slot.inflight === undefined && slot.followers === 0 && now - slot.lastUsed >= idleMillis) {
            engine.close(slot)
            entries.delete(userId)
          }
        }
        engine.scheduler.schedule(sweeper, now + period)
      })
    ))
    engine.scheduler.schedule(sweeper, (yield* Clock.currentTimeMillis) + period)

    return { get, httpClient, remove, size: Effect.sync(() => entries.size) }
  })

/**
 * The registry as a layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<Registry, never, HttpClient.HttpClient | TokenStore> =>
  Layer.scoped(Registry, make(options))

/**
 * Like {@link layer}, with the client read from configuration (see `ClientConfig.config`).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  options: Omit<Options, "client"> & { readonly client: Config.Config<ClientConfig> }
): Layer.Layer<Registry, ConfigError.ConfigError, HttpClient.HttpClient | TokenStore> =>
  Layer.scoped(Registry, Effect.flatMap(options.client, (client) => make({ ...options, client })))
