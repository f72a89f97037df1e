/**
 * One refresh at a time across the tabs of an origin. Wraps a `TokenStore`:
 *
 * - `withRefreshLock` takes a Web Lock (`navigator.locks`) named after the slot, so the tabs refresh
 *   one after another; inside the lock `OAuthClient` re-reads the store first and adopts a token
 *   another tab stored, so a rotated refresh token is never sent twice.
 * - every write is announced on a `BroadcastChannel` with the token, and the other tabs write it into
 *   their own store (a memory or `sessionStorage` store is per tab); a removal (logout) is announced
 *   too. The lock is held a moment after the announcement, so the other tabs have it before they
 *   can take the lock.
 *
 * Where Web Locks is missing, the store's own `withRefreshLock` (if any) is kept: tabs then coordinate
 * through the announcements only, and two tabs whose timers fire together may both refresh.
 *
 * @since 0.1.0
 */
import type { TokenStoreError } from "@effect-oauth/core/OAuthError"
import type { Token } from "@effect-oauth/core/Token"
import { decodeStored, encodeStored, TokenStore } from "@effect-oauth/core/TokenStore"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Runtime from "effect/Runtime"
import type * as Scope from "effect/Scope"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The `BroadcastChannel` and lock names start with this (default `"effect-oauth"`). */
  readonly name?: string | undefined
  /** How long the lock is held after a new token was announced (default 50 ms). */
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

type Announcement =
  | { readonly _tag: "Set"; readonly key: string; readonly token: string }
  | { readonly _tag: "Removed"; readonly key: string }

const isAnnouncement = (data: unknown): data is Announcement =>
  typeof data === "object" && data !== null && "_tag" in data && "key" in data && typeof data.key === "string" &&
  ((data._tag === "Set" && "token" in data && typeof data.token === "string") || data._tag === "Removed")

/**
 * The browser's lock manager, when it has one.
 *
 * @since 0.1.0
 * @category environment
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
 * Runs `effect` while holding the Web Lock `name`. Interrupted while waiting, it gives up the
 * request; interrupted while holding, it interrupts the effect and then releases the lock.
 *
 * @since 0.1.0
 * @category locks
 */
export const withWebLock = <A, E>(
  locks: LockManager,
  name: string,
  effect: Effect.Effect<A, E>
): Effect.Effect<A, E> =>
  Effect.flatMap(Effect.runtime<never>(), (runtime) =>
    Effect.async<A, E>((resume) => {
      const abort = new AbortController()
      let fiber: Fiber.RuntimeFiber<A, E> | undefined
      locks.request(name, { signal: abort.signal }, () =>
        new Promise<void>((release) => {
          fiber = Runtime.runFork(runtime)(effect)
          fiber.addObserver((exit) => {
            release()
            resume(exit)
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
 * Wraps `store` for use by several tabs (see the module's description).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  store: TokenStore.Service,
  options: Options = {}
): Effect.Effect<TokenStore.Service, never, Scope.Scope> =>
  Effect.gen(function*() {
    const name = options.name ?? "effect-oauth"
    const settle = Duration.decode(options.settle ?? Duration.millis(50))
    const runtime = yield* Effect.runtime<never>()
    const channel = yield* Effect.acquireRelease(
      Effect.sync(() => openChannel(`${name}/tokens`)),
      (channel) => Effect.sync(() => Option.map(channel, (c) => c.close()))
    )

    // Another tab's token goes into this tab's store if it is newer than what the store holds.
    const adopt = (key: string, token: Token) =>
      Effect.flatMap(store.get(key), (current) =>
        Option.isSome(current) && current.value.version >= token.version
          ? Effect.void
          : Effect.asVoid(store.set(key, token)))

    if (Option.isSome(channel)) {
      channel.value.onmessage = (event) => {
        const data = event.data
        if (!isAnnouncement(data)) return
        const effect = data._tag === "Removed"
          ? store.remove(data.key)
          : Either.match(decodeStored(data.token), {
            onLeft: () => Effect.void,
            onRight: (token) => adopt(data.key, token)
          })
        Runtime.runFork(runtime)(Effect.ignore(effect))
      }
    }

    const announce = (message: Announcement) => Effect.sync(() => Option.map(channel, (c) => c.postMessage(message)))

    const locks = lockManager()
    const withRefreshLock = Option.match(locks, {
      onNone: () => store.withRefreshLock,
      onSome: (locks) => <A, E>(key: string, refresh: Effect.Effect<A, E>): Effect.Effect<A, E | TokenStoreError> =>
        withWebLock(locks, `${name}/refresh/${key}`, Effect.zipLeft(refresh, Effect.sleep(settle)))
    })

    return TokenStore.of({
      get: store.get,
      set: (key, token, expected) =>
        Effect.tap(store.set(key, token, expected), (written) =>
          written
            ? Either.match(encodeStored(token), {
              onLeft: () => Effect.void,
              onRight: (text) => announce({ _tag: "Set", key, token: text })
            })
            : Effect.void),
      remove: (key) => Effect.tap(store.remove(key), () => announce({ _tag: "Removed", key })),
      ...(withRefreshLock === undefined ? {} : { withRefreshLock })
    })
  })

/**
 * The store below, coordinated across tabs.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options?: Options): Layer.Layer<TokenStore, never, TokenStore> =>
  Layer.scoped(TokenStore, Effect.flatMap(TokenStore, (store) => make(store, options)))

/**
 * Whether this browser has what cross-tab coordination needs.
 *
 * @since 0.1.0
 * @category environment
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
