/**
 * The Redis token store: one string per slot holding the core's stored-token JSON, written by a
 * compare-and-set script; a refresh lease per slot (`SET NX PX` with a unique owner, renewed while
 * the refresh runs, released by compare-and-delete); new versions and released leases announced on
 * one pub/sub channel, with a bounded poll as fallback; and a write-back of the newest token this
 * process knows after every reconnection, so a Redis that restarted empty or failed over to a
 * replica that lagged gets the current token back before anyone refreshes again.
 *
 * @internal
 */
import { StoreError } from "@effect-oauth/core/OAuthError"
import type { Token } from "@effect-oauth/core/Token"
import type { Expectation, SetResult } from "@effect-oauth/core/TokenStore"
import { conflict, encodeStored, readStored, TokenStore, written } from "@effect-oauth/core/TokenStore"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as FiberRef from "effect/FiberRef"
import { globalValue } from "effect/GlobalValue"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import type { ConnectionOptions } from "../RedisTokenStore.js"
import type { ConnectFailure } from "./connection.js"
import { connect, describeError, describeTarget, duplicate } from "./connection.js"
import type { SetMode } from "./scripts.js"
import { define } from "./scripts.js"

/** The store's own settings, resolved. */
export interface StoreSettings {
  readonly prefix: string
  readonly leaseTtl: Duration.Duration
  readonly lockTimeout: Duration.Duration
  readonly pollInterval: Duration.Duration
  readonly recoveryWindow: Duration.Duration
}

interface Held {
  active: boolean
  /** The value read right after the lease was taken, handed to the first read inside it. */
  prefetched: Option.Option<Option.Option<Token>>
}

// The leases this fiber holds, so a refresh nested in another of the same slot does not wait for
// itself, and the refresh's first read is the one made under the lease.
const heldLeases = globalValue(
  "@effect-oauth/redis/RedisTokenStore/heldLeases",
  () => FiberRef.unsafeMake<ReadonlyMap<string, Held>>(new Map())
)

const randomId = (): string =>
  Array.from(globalThis.crypto.getRandomValues(new Uint8Array(16)), (byte) => byte.toString(16).padStart(2, "0"))
    .join("")

interface Signal {
  count: number
  users: number
  readonly wakers: Set<() => void>
}

/**
 * Builds the store on a new connection (and a second one for pub/sub), both closed with the scope.
 */
export const make = (
  connection: ConnectionOptions,
  settings: StoreSettings
): Effect.Effect<TokenStore.Service, ConnectFailure, Scope.Scope> =>
  Effect.gen(function*() {
    const target = describeTarget(connection)
    const redis = define(yield* connect(connection))
    const subscriber = yield* duplicate(redis)
    const prefix = settings.prefix
    const channel = `${prefix}events`
    const tokenKey = (key: string) => `${prefix}token:${key}`
    const leaseKey = (key: string) => `${prefix}lease:${key}`
    const leaseMillis = Math.max(1, Math.round(Duration.toMillis(settings.leaseTtl)))
    const lockTimeoutMillis = Duration.toMillis(settings.lockTimeout)
    const pollMillis = Math.max(1, Duration.toMillis(settings.pollInterval))
    const recoveryMillis = Duration.toMillis(settings.recoveryWindow)

    const failure = (operation: StoreError["reason"]) => (error: unknown) =>
      new StoreError({ reason: operation, detail: `Redis at ${target}: ${describeError(error)}` })
    const command = <A>(operation: StoreError["reason"], run: () => Promise<A>) =>
      Effect.tryPromise({ try: run, catch: failure(operation) })

    // ---- announcements --------------------------------------------------------

    const signals = new Map<string, Signal>()
    const notify = (key: string) => {
      const signal = signals.get(key)
      if (signal === undefined) return
      signal.count++
      for (const wake of signal.wakers) wake()
    }
    subscriber.on("message", (_channel: string, message: string) => {
      try {
        const parsed: unknown = JSON.parse(message)
        if (typeof parsed === "object" && parsed !== null && "key" in parsed && typeof parsed.key === "string") {
          notify(parsed.key)
        }
      } catch {
        // Not ours: ignored.
      }
    })
    yield* Effect.tryPromise({
      try: async () => {
        await subscriber.connect()
        await subscriber.subscribe(channel)
      },
      catch: (error): ConnectFailure => ({ target, detail: `cannot subscribe: ${describeError(error)}` })
    })
    const announce = (key: string, event: "written" | "released", version?: number) =>
      JSON.stringify(version === undefined ? { key, event } : { key, event, version })

    const watch = (key: string) =>
      Effect.acquireRelease(
        Effect.sync(() => {
          let signal = signals.get(key)
          if (signal === undefined) {
            signal = { count: 0, users: 0, wakers: new Set() }
            signals.set(key, signal)
          }
          signal.users++
          return signal
        }),
        (signal) =>
          Effect.sync(() => {
            signal.users--
            if (signal.users === 0 && signals.get(key) === signal) signals.delete(key)
          })
      )

    // Until the key is announced after `seen`, or `millis` pass (the poll that covers lost messages).
    const changedSince = (signal: Signal, seen: number, millis: number) =>
      Effect.race(
        Effect.async<void>((resume) => {
          if (signal.count !== seen) return resume(Effect.void)
          const wake = () => resume(Effect.void)
          signal.wakers.add(wake)
          return Effect.sync(() => {
            signal.wakers.delete(wake)
          })
        }),
        Effect.sleep(Duration.millis(millis))
      )

    // ---- what this process knows ------------------------------------------------

    // The newest token this process read or wrote per slot (written or not): after a reconnection
    // it is written back unless Redis holds a newer one.
    const known = new Map<string, Token>()
    const remember = (key: string, token: Token) => {
      const previous = known.get(key)
      if (previous === undefined || previous.version <= token.version) known.set(key, token)
    }

    const decode = (key: string, text: string | null): Effect.Effect<Option.Option<Token>> =>
      text === null ? Effect.succeedNone : readStored(key, text)

    const read = (operation: StoreError["reason"], key: string) =>
      Effect.tryPromise({ try: () => redis.get(tokenKey(key)), catch: (error) => error }).pipe(
        Effect.flatMap((text) => decode(key, text)),
        Effect.catchAll((error) =>
          describeError(error).startsWith("WRONGTYPE")
            ? Effect.as(
              Effect.logWarning(
                `corrupt value under the Redis key of ${JSON.stringify(key)} ignored: it is not a string`
              ),
              Option.none<Token>()
            )
            : Effect.fail(failure(operation)(error))
        ),
        Effect.tap((token) =>
          Effect.sync(() => {
            if (Option.isSome(token)) remember(key, token.value)
          })
        )
      )

    const write = (
      key: string,
      token: Token,
      mode: SetMode,
      expected: number
    ): Effect.Effect<SetResult, StoreError> =>
      Either.match(encodeStored(token), {
        onLeft: (problem) =>
          Effect.fail(
            new StoreError({ reason: "Set", detail: `the token cannot be stored: ${problem.detail}` })
          ),
        onRight: (text) =>
          command("Set", () =>
            redis.effectOAuthCompareAndSet(
              tokenKey(key),
              mode,
              String(expected),
              String(token.version),
              text,
              channel,
              announce(key, "written", token.version)
            )).pipe(
              // Written or not, this token came from the server: keep it for the write-back.
              Effect.tapError(() => Effect.sync(() => remember(key, token))),
              Effect.flatMap((reply) => {
                if (reply[0] === 1) {
                  remember(key, token)
                  notify(key)
                  return Effect.succeed(written)
                }
                return Effect.map(decode(key, reply[1] ?? null), conflict)
              })
            )
      })

    const expectedVersion = (expected: Expectation) => String(expected._tag === "Version" ? expected.version : -1)

    const compareAndSet = (key: string, token: Token, expected: Expectation) =>
      write(key, token, expected._tag === "Absent" ? "absent" : "version", Number(expectedVersion(expected)))

    const compareAndDelete = (key: string, expected: Expectation): Effect.Effect<SetResult, StoreError> =>
      command("Remove", () =>
        redis.effectOAuthCompareAndDelete(
          tokenKey(key),
          expected._tag === "Absent" ? "absent" : "version",
          expectedVersion(expected)
        )).pipe(
          Effect.flatMap((reply) => {
            if (reply[0] === 1) {
              // Removed on purpose (a logout, a refused grant): not to be written back.
              known.delete(key)
              return Effect.succeed(written)
            }
            return Effect.map(decode(key, reply[1] ?? null), conflict)
          })
        )

    // ---- reconnection -------------------------------------------------------------

    // Set by the connection's "ready" event, cleared once the write-back is done: no lease is
    // taken in between, and none for `recoveryWindow` after, so every process of the fleet has
    // reconnected and written back its newest token before anyone refreshes from what Redis holds.
    let recovering = false
    let recoveringUntil = 0
    const reconnected = yield* Queue.sliding<void>(1)
    const onReady = () => {
      recovering = true
      reconnected.unsafeOffer(undefined)
    }
    redis.on("ready", onReady)
    yield* Effect.addFinalizer(() => Effect.sync(() => redis.off("ready", onReady)))

    const writeBack = Effect.gen(function*() {
      const since = yield* Clock.currentTimeMillis
      recoveringUntil = since + recoveryMillis
      recovering = false
      const tokens = [...known]
      const written = yield* Effect.forEach(
        tokens,
        ([key, token]) =>
          write(key, token, "newer", -1).pipe(
            Effect.map((outcome) => outcome._tag === "Written"),
            Effect.orElseSucceed(() => false)
          ),
        { concurrency: 16 }
      )
      yield* Effect.logInfo("reconnected to Redis; wrote back the tokens it had lost").pipe(
        Effect.annotateLogs({ "redis.target": target, "redis.written": written.filter(Boolean).length }),
        Effect.when(() => written.some(Boolean))
      )
    })

    yield* Queue.take(reconnected).pipe(
      Effect.zipRight(writeBack),
      Effect.catchAllCause((cause) => Effect.logWarning("the write-back after a reconnection failed", cause)),
      Effect.forever,
      Effect.forkScoped
    )

    // ---- the lease --------------------------------------------------------------------

    const lockFailure = (key: string, detail: string) =>
      new StoreError({ reason: "Lock", detail: `the refresh lease of ${JSON.stringify(key)} ${detail}` })

    const release = (key: string, owner: string) =>
      command("Lock", () => redis.effectOAuthReleaseLease(leaseKey(key), owner, channel, announce(key, "released")))
        .pipe(
          Effect.zipRight(Effect.sync(() => notify(key))),
          Effect.ignore
        )

    // Takes the lease and reads the slot under it; polls (woken early by announcements) until the
    // lock timeout. Runs uninterruptibly but for its waits, so a lease it took is always released.
    const acquire = (
      key: string,
      owner: string,
      restore: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
    ) =>
      Effect.scoped(Effect.gen(function*() {
        const signal = yield* watch(key)
        const deadline = (yield* Clock.currentTimeMillis) + lockTimeoutMillis
        let uncertain = false
        let problem = "is held by another process"
        // Bounded by the deadline: every round waits up to one poll interval.
        for (let round = 0; round < 10_000_000; round++) {
          const now = yield* Clock.currentTimeMillis
          const seen = signal.count
          if (recovering || now < recoveringUntil) {
            problem = "is held back while Redis recovers"
          } else {
            const taken = yield* Effect.either(
              command("Lock", () => redis.set(leaseKey(key), owner, "PX", leaseMillis, "NX"))
            )
            let ours = Either.isRight(taken) && taken.right === "OK"
            if (Either.isLeft(taken)) {
              // A timed-out SET may still have taken the lease: it is ours if it names us.
              uncertain = true
              problem = `could not be taken: ${taken.left.detail}`
            } else if (!ours && uncertain) {
              ours = (yield* Effect.either(command("Lock", () => redis.get(leaseKey(key))))).pipe(
                Either.match({ onLeft: () => false, onRight: (holder) => holder === owner })
              )
            }
            if (ours) {
              // The refresh starts from what Redis holds now, never from a read that failed.
              const current = yield* Effect.either(read("Lock", key))
              if (Either.isRight(current)) {
                yield* Effect.logDebug("refresh lease taken").pipe(
                  Effect.annotateLogs({
                    "redis.waited_rounds": round,
                    "oauth.stored_version": Option.match(current.right, { onNone: () => -1, onSome: (t) => t.version })
                  })
                )
                return current.right
              }
              yield* release(key, owner)
              problem = `was taken, but the slot could not be read: ${current.left.detail}`
            } else if (Either.isRight(taken)) {
              problem = "is held by another process"
            }
          }
          if (now >= deadline) {
            return yield* lockFailure(key, `${problem}; gave up after ${Duration.format(settings.lockTimeout)}`)
          }
          const wait = recovering || now < recoveringUntil
            ? Math.min(pollMillis, Math.max(1, recoveringUntil - now))
            : pollMillis
          yield* restore(changedSince(signal, seen, Math.min(wait, Math.max(1, deadline - now))))
        }
        return yield* lockFailure(key, "could not be taken")
      }))

    // Keeps the lease while the refresh runs; a lease lost anyway (a long pause) is logged, and the
    // version check still refuses the refresh's write if someone else refreshed meanwhile.
    const renew = (key: string, owner: string) =>
      command("Lock", () => redis.effectOAuthRenewLease(leaseKey(key), owner, String(leaseMillis))).pipe(
        Effect.flatMap((renewed) =>
          renewed === 1 ? Effect.void : Effect.logWarning("the refresh lease expired before the refresh ended")
        ),
        Effect.ignore,
        Effect.repeat(Schedule.spaced(Duration.millis(Math.max(1, Math.floor(leaseMillis / 3))))),
        Effect.delay(Duration.millis(Math.max(1, Math.floor(leaseMillis / 3))))
      )

    const withRefreshLock = <A, E>(key: string, refresh: Effect.Effect<A, E>): Effect.Effect<A, E | StoreError> =>
      Effect.flatMap(FiberRef.get(heldLeases), (held) => {
        const lease = leaseKey(key)
        if (held.get(lease)?.active === true) return refresh
        return Effect.uninterruptibleMask((restore) =>
          Effect.gen(function*() {
            const owner = randomId()
            const current = yield* acquire(key, owner, restore)
            const holder: Held = { active: true, prefetched: Option.some(current) }
            return yield* restore(
              Effect.scoped(Effect.zipRight(
                Effect.forkScoped(renew(key, owner)),
                Effect.locally(refresh, heldLeases, new Map([...held, [lease, holder]]))
              ))
            ).pipe(
              Effect.ensuring(Effect.suspend(() => {
                holder.active = false
                return release(key, owner)
              }))
            )
          })
        ).pipe(Effect.annotateLogs({ "oauth.slot": key }))
      })

    const get = (key: string): Effect.Effect<Option.Option<Token>, StoreError> =>
      Effect.flatMap(FiberRef.get(heldLeases), (held) => {
        const holder = held.get(leaseKey(key))
        if (holder !== undefined && holder.active && Option.isSome(holder.prefetched)) {
          const value = holder.prefetched.value
          holder.prefetched = Option.none()
          return Effect.succeed(value)
        }
        return read("Get", key)
      })

    return TokenStore.of({ get, set: compareAndSet, remove: compareAndDelete, withRefreshLock })
  })
