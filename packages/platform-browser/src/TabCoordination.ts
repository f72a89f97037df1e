/**
 * Tabs that share one token store (`localStorage`): one refresh at a time between them, and word of
 * each new token. Wraps a `TokenStore`:
 *
 * - `withRefreshLock` takes a Web Lock (`navigator.locks`) named after the slot, so the tabs refresh
 *   one after another; inside the lock `OAuthClient` re-reads the store first and adopts a token another
 *   tab stored, so a rotated refresh token is never sent twice. The lock is held a moment after the
 *   refresh (its callers have the token already), because a browser may show one tab's write to the
 *   others a little later.
 * - every write is announced on a `BroadcastChannel` as the slot's key and the new token's version:
 *   never the token. A tab that hears it re-reads the shared store ({@link follow}) and adopts the
 *   token found there if it is newer than its own. A message never writes a store: any script of the
 *   origin can post on the channel, so a forged one costs a read and changes nothing.
 *
 * A store that is not shared (memory, `sessionStorage`) gives each tab its own session: wrapped, its
 * tabs still refresh one at a time, but nothing passes between them.
 *
 * Where Web Locks is missing, the store's own `withRefreshLock` (if any) is kept: two tabs whose timers
 * fire together may then both refresh.
 *
 * @since 0.1.0
 */
import type * as OAuthClient from "@effect-oauth/core/OAuthClient"
import type { StoreError } from "@effect-oauth/core/OAuthError"
import { TokenStore } from "@effect-oauth/core/TokenStore"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Runtime from "effect/Runtime"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The `BroadcastChannel` and lock names start with this (default `"effect-oauth"`). */
  readonly name?: string | undefined
  /** How long the lock is held after a refresh, so its write reaches the other tabs first (default 50 ms). */
  readonly settle?: Duration.DurationInput | undefined
}

/** The part of the Web Locks API used here. */
interface LockManager {
  readonly request: (
    name: string,
    options: { readonly signal?: AbortSignal },
    callback: () => Promise<void>
  ) => Promise<void>
}

/** The part of `BroadcastChannel` used here. */
interface Channel {
  postMessage(message: unknown): void
  close(): void
  onmessage: ((event: { readonly data: unknown }) => void) | null
}

// The only message on the channel: "I stored version `version` under `key`". It has no room for a token.
const Announcement = Schema.TaggedStruct("Stored", { key: Schema.String, version: Schema.Number })
type Announcement = typeof Announcement.Type
const isAnnouncement = Schema.is(Announcement)

/**
 * The browser's lock manager, when it has one.
 *
 * @since 0.1.0
 * @category utils
 */
export const lockManager = (): Option.Option<LockManager> => {
  const navigator = (globalThis as { readonly navigator?: { readonly locks?: LockManager } }).navigator
  return Option.fromNullable(navigator?.locks)
}

const openChannel = (name: string): Option.Option<Channel> => {
  const Constructor = (globalThis as { readonly BroadcastChannel?: new(name: string) => Channel }).BroadcastChannel
  return Constructor === undefined ? Option.none() : Option.some(new Constructor(name))
}

/**
 * Runs `effect` while holding the Web Lock `name`, and keeps holding it for `holdAfter` once the
 * effect is done (without making the caller wait for that). Interrupted while waiting, it gives up
 * the request; interrupted while holding, it interrupts the effect and then releases the lock.
 *
 * @since 0.1.0
 * @category combinators
 */
export const withWebLock = <A, E>(
  locks: LockManager,
  name: string,
  effect: Effect.Effect<A, E>,
  holdAfter: Duration.DurationInput = Duration.zero
): Effect.Effect<A, E> =>
  Effect.flatMap(Effect.runtime<never>(), (runtime) =>
    Effect.async<A, E>((resume) => {
      const abort = new AbortController()
      let fiber: Fiber.RuntimeFiber<A, E> | undefined
      locks.request(name, { signal: abort.signal }, () =>
        new Promise<void>((release) => {
          fiber = Runtime.runFork(runtime)(effect)
          fiber.addObserver((exit) => {
            resume(exit)
            Runtime.runFork(runtime)(Effect.sleep(holdAfter)).addObserver(() => release())
          })
        })).catch(() => {
          // Aborted: the caller was interrupted while waiting, and nothing is left to do. Refused for
          // another reason (a document without the lock manager's permission): run without the lock.
          if (!abort.signal.aborted && fiber === undefined) {
            fiber = Runtime.runFork(runtime)(effect)
            fiber.addObserver(resume)
          }
        })
      return Effect.suspend(() => {
        abort.abort()
        return fiber === undefined ? Effect.void : Effect.asVoid(Fiber.interrupt(fiber))
      })
    }))

/**
 * @since 0.1.0
 * @category tags
 */
export class TabCoordination extends Context.Tag("@effect-oauth/platform-browser/TabCoordination")<
  TabCoordination,
  TabCoordination.Service
>() {}

/**
 * @since 0.1.0
 * @category models
 */
export declare namespace TabCoordination {
  /**
   * What a tab hears from the others. Nothing vouches for an announcement (any script of the origin
   * can post one): it is only a reason to re-read the store.
   *
   * @since 0.1.0
   * @category models
   */
  export interface Service {
    /** The versions other tabs say they stored under `key`, from now until the scope closes. */
    readonly announced: (key: string) => Effect.Effect<Queue.Dequeue<number>, never, Scope.Scope>
  }
}

/**
 * Wraps `store` for use by several tabs (see the module's description); `tabs` hears the other tabs.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  store: TokenStore.Service,
  options: Options = {}
): Effect.Effect<{ readonly store: TokenStore.Service; readonly tabs: TabCoordination.Service }, never, Scope.Scope> =>
  Effect.gen(function*() {
    const name = options.name ?? "effect-oauth"
    const settle = Duration.decode(options.settle ?? Duration.millis(50))
    // The queue of each listener, with the slot key it listens for.
    const listeners = new Map<Queue.Queue<number>, string>()
    const channel = yield* Effect.acquireRelease(
      Effect.sync(() => openChannel(`${name}/tokens`)),
      (channel) => Effect.sync(() => Option.map(channel, (c) => c.close()))
    )
    if (Option.isSome(channel)) {
      channel.value.onmessage = (event) => {
        const data = event.data
        // Only the version goes on: whatever else a message holds is dropped unread.
        if (!isAnnouncement(data)) return
        for (const [queue, key] of listeners) if (key === data.key) queue.unsafeOffer(data.version)
      }
    }
    const announce = (message: Announcement) => Effect.sync(() => Option.map(channel, (c) => c.postMessage(message)))

    const locks = lockManager()
    const withRefreshLock = Option.match(locks, {
      onNone: () => store.withRefreshLock,
      onSome: (locks) => <A, E>(key: string, refresh: Effect.Effect<A, E>): Effect.Effect<A, E | StoreError> =>
        withWebLock(locks, `${name}/refresh/${key}`, refresh, settle)
    })

    return {
      store: TokenStore.of({
        get: store.get,
        set: (key, token, expected) =>
          Effect.tap(
            store.set(key, token, expected),
            (result) =>
              result._tag === "Written" ? announce({ _tag: "Stored", key, version: token.version }) : Effect.void
          ),
        remove: store.remove,
        ...(withRefreshLock === undefined ? {} : { withRefreshLock })
      }),
      tabs: {
        announced: (key) =>
          Effect.acquireRelease(
            // Bounded, dropping the oldest: a flood of messages costs memory for the last few only.
            Effect.tap(Queue.sliding<number>(64), (queue) => Effect.sync(() => listeners.set(queue, key))),
            (queue) => Effect.zipRight(Effect.sync(() => listeners.delete(queue)), Queue.shutdown(queue))
          )
      }
    }
  })

/**
 * The store below, coordinated across tabs, and what the other tabs announce.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options?: Options): Layer.Layer<TokenStore | TabCoordination, never, TokenStore> =>
  Layer.scopedContext(
    Effect.flatMap(TokenStore, (store) =>
      Effect.map(
        make(store, options),
        ({ store, tabs }) => Context.make(TokenStore, store).pipe(Context.add(TabCoordination, tabs))
      ))
  )

/**
 * Keeps `client` up to date with the shared store: when another tab announces a newer version of the
 * client's slot, the store is read again, and if it holds a usable token newer than the client's, the
 * client adopts it (re-reading the store under the refresh lock itself). Nothing is written, and no
 * token request is sent for an announcement the store does not bear out.
 *
 * @since 0.1.0
 * @category constructors
 */
export const follow = (
  client: OAuthClient.OAuthClient.Service
): Effect.Effect<void, never, TabCoordination | TokenStore | Scope.Scope> =>
  Effect.gen(function*() {
    const tabs = yield* TabCoordination
    const store = yield* TokenStore
    const reread = (announced: number) =>
      Effect.gen(function*() {
        const held = Option.flatten(yield* Stream.runHead(client.changes))
        const version = Option.match(held, { onNone: () => Number.NEGATIVE_INFINITY, onSome: (t) => t.version })
        if (announced <= version) return
        const stored = yield* store.get(client.key)
        const now = yield* Clock.currentTimeMillis
        if (Option.isNone(stored) || stored.value.version <= version) return
        if (Option.isSome(stored.value.expiresAt) && now >= stored.value.expiresAt.value) return
        // `invalidate` re-reads only if the client still holds the token compared with here.
        yield* Option.isSome(held) ? client.invalidate(held.value) : client.token
      })
    const queue = yield* tabs.announced(client.key)
    yield* Effect.forkScoped(
      Effect.forever(Effect.flatMap(Queue.take(queue), (version) => Effect.ignore(reread(version))))
    )
  })

/**
 * Whether this browser has what cross-tab coordination needs.
 *
 * @since 0.1.0
 * @category utils
 */
export const isSupported = (): boolean =>
  Option.isSome(lockManager()) && Option.isSome(
    openChannel("probe").pipe(
      Option.map((c) => {
        c.close()
        return c
      })
    )
  )
