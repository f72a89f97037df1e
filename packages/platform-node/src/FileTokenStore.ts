/**
 * A `TokenStore` in files, for Node: one file per key in a private directory (0700, files 0600),
 * every write a temporary file that is flushed to disk and renamed over the old one, so a crash at
 * any moment leaves either the old token or the new one. Several processes may share the directory:
 * conditional writes and `withRefreshLock` take a lock file per key (created exclusively, holding the
 * owner's pid, host and a timestamp; stale locks are broken), so the processes refresh once between
 * them and never spend a rotated refresh token twice.
 *
 * The store assumes other users on the machine: an existing directory that others can write to is
 * made private when it is the process's own and refused otherwise; a token file is read without
 * following a link at its path, only when it is a regular file of the process's user and at most
 * 1 MiB (else it is corrupt, read as absent); the temporary files of a writer that crashed are
 * deleted when the store is opened (by the key's next write when their writer cannot be judged),
 * and by `remove`.
 *
 * @since 0.1.0
 */
import { ConfigurationError, StoreError } from "@effect-oauth/core/OAuthError"
import type { Token } from "@effect-oauth/core/Token"
import { encodeStored, makeKeyedLock, readStored, TokenStore, writeIfExpected } from "@effect-oauth/core/TokenStore"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import type * as PlatformError from "@effect/platform/Error"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as FiberRef from "effect/FiberRef"
import { globalValue } from "effect/GlobalValue"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as NodeOs from "node:os"
import * as NodePathModule from "node:path"
import {
  checkDirectory,
  fileNameFor,
  isProcessAlive,
  readTokenFile,
  temporaries,
  temporaryName
} from "./internal/tokenFiles.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Where the token files live; default {@link defaultDirectory}. A relative path is resolved. */
  readonly directory?: string | undefined
  /** How long to wait for another holder's lock before failing; default 30 seconds. */
  readonly lockTimeout?: Duration.DurationInput | undefined
  /**
   * A lock whose timestamp is older than this is taken to be left by a crashed holder and broken;
   * default 30 seconds. A holder running a long refresh renews its timestamp well within it. A lock
   * dated in the future (by a clock that is wrong) is broken once it has stayed unchanged this long.
   */
  readonly staleLockAfter?: Duration.DurationInput | undefined
  /** How often a waiter looks at another holder's lock; default 20 ms. */
  readonly lockPollInterval?: Duration.DurationInput | undefined
}

const appName = "effect-oauth"

/**
 * The default directory for a platform: `$XDG_CONFIG_HOME/effect-oauth` when `XDG_CONFIG_HOME` is an
 * absolute path, else `~/.config/effect-oauth` (Linux and other Unix), `~/Library/Application
 * Support/effect-oauth` (macOS), `%APPDATA%\effect-oauth` (Windows). The environment is read through
 * `Config`, so a `ConfigProvider` can stand in for it.
 *
 * @since 0.1.0
 * @category utils
 */
export const defaultDirectoryFor = (platform: NodeJS.Platform): Effect.Effect<string, ConfigurationError> =>
  Effect.gen(function*() {
    const paths = platform === "win32" ? NodePathModule.win32 : NodePathModule.posix
    const env = (name: string) => Config.option(Config.nonEmptyString(name))
    const xdg = yield* env("XDG_CONFIG_HOME")
    // The XDG spec says a relative value is invalid and must be ignored.
    if (Option.isSome(xdg) && paths.isAbsolute(xdg.value)) return paths.join(xdg.value, appName)
    if (platform === "win32") {
      const appData = yield* env("APPDATA")
      if (Option.isSome(appData)) return paths.join(appData.value, appName)
    }
    const home = Option.orElse(yield* env(platform === "win32" ? "USERPROFILE" : "HOME"), () => {
      try {
        return Option.liftPredicate(NodeOs.homedir(), (dir) => dir.length > 0)
      } catch {
        return Option.none()
      }
    })
    if (Option.isNone(home)) {
      return yield* new ConfigurationError({
        reason: "Environment",
        detail: "no home directory to keep tokens in: set HOME (or XDG_CONFIG_HOME), or pass a directory"
      })
    }
    switch (platform) {
      case "win32":
        return paths.join(home.value, "AppData", "Roaming", appName)
      case "darwin":
        return paths.join(home.value, "Library", "Application Support", appName)
      default:
        return paths.join(home.value, ".config", appName)
    }
  }).pipe(
    Effect.catchTag(
      "ConfigError",
      () =>
        new ConfigurationError({
          reason: "Environment",
          detail: "the environment could not be read to find the token directory"
        })
    )
  )

/**
 * The default directory on this machine's platform (see {@link defaultDirectoryFor}).
 *
 * @since 0.1.0
 * @category utils
 */
export const defaultDirectory: Effect.Effect<string, ConfigurationError> = Effect.suspend(() =>
  defaultDirectoryFor(process.platform)
)

// -----------------------------------------------------------------------------
// locks
// -----------------------------------------------------------------------------

const LockInfo = Schema.parseJson(Schema.Struct({
  pid: Schema.Int,
  host: Schema.String,
  at: Schema.Number,
  id: Schema.String
}))
type LockInfo = typeof LockInfo.Type
const decodeLockInfo = Schema.decodeUnknownOption(LockInfo)

interface Holder {
  active: boolean
}

// The lock files this fiber (or the fiber that forked it) holds, so writes inside a
// `withRefreshLock` do not wait for the lock their own refresh holds. A holder is marked inactive on
// release, so a fiber forked inside and still running afterwards takes the lock again.
const heldLocks = globalValue(
  "@effect-oauth/platform-node/FileTokenStore/heldLocks",
  () => FiberRef.unsafeMake<ReadonlyMap<string, Holder>>(new Map())
)

// Fibers of this process queue here, one per lock path, before touching the lock file: only one
// of them polls the file, and the others wake as soon as it is done.
const processLocks = globalValue("@effect-oauth/platform-node/FileTokenStore/processLocks", makeKeyedLock)

const randomId = (): string =>
  Array.from(globalThis.crypto.getRandomValues(new Uint8Array(12)), (byte) => byte.toString(16).padStart(2, "0"))
    .join("")

const isReason = (reason: PlatformError.SystemErrorReason) => (error: PlatformError.PlatformError): boolean =>
  error._tag === "SystemError" && error.reason === reason

// -----------------------------------------------------------------------------
// the store
// -----------------------------------------------------------------------------

/**
 * Builds a file token store on `@effect/platform`'s `FileSystem` and `Path`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options?: Options
): Effect.Effect<TokenStore.Service, ConfigurationError, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const directory = path.resolve(options?.directory ?? (yield* defaultDirectory))
    const lockTimeout = Duration.decode(options?.lockTimeout ?? Duration.seconds(30))
    const staleAfter = Duration.toMillis(options?.staleLockAfter ?? Duration.seconds(30))
    const pollInterval = Duration.decode(options?.lockPollInterval ?? Duration.millis(20))
    const host = NodeOs.hostname()
    const posix = process.platform !== "win32"

    const failure = (operation: StoreError["reason"], detail: string) => new StoreError({ reason: operation, detail })
    // A PlatformError's message names the method, the path and the system's reason, never file data.
    const platformFailure = (operation: StoreError["reason"], doing: string) => (error: PlatformError.PlatformError) =>
      failure(operation, `${doing}: ${error.message}`)

    const filePath = (key: string) => path.join(directory, fileNameFor(key))
    const lockNameFor = (key: string) => fileNameFor(key).replace(/\.json$/, ".lock")

    // The directory is checked whenever it may have just appeared: when the store is built, and
    // after each (idempotent) creation, in case someone else created it in between.
    const secureDirectory: Effect.Effect<void, string> = Effect.gen(function*() {
      const info = yield* fs.stat(directory).pipe(Effect.mapError((error) => error.message))
      if (info.type !== "Directory") return yield* Effect.fail(`${directory} is not a directory`)
      const checked = checkDirectory(directory, { mode: info.mode, uid: Option.getOrUndefined(info.uid) })
      if (checked._tag === "Unsafe") return yield* Effect.fail(checked.detail)
      if (checked._tag === "Tighten") {
        yield* fs.chmod(directory, 0o700).pipe(
          Effect.mapError((error) => `cannot make the token directory private: ${error.message}`)
        )
        yield* Effect.logWarning("made the token directory private (0700): others could write to it").pipe(
          Effect.annotateLogs("directory", directory)
        )
      }
    })
    const ensureDirectory = (operation: StoreError["reason"]) =>
      fs.makeDirectory(directory, { recursive: true, mode: 0o700 }).pipe(
        Effect.mapError(platformFailure(operation, `cannot create the directory ${directory}`)),
        Effect.zipRight(posix ? Effect.mapError(secureDirectory, (detail) => failure(operation, detail)) : Effect.void)
      )

    // ---- temporary files of crashed writers -----------------------------------

    const removeEntries = (names: Iterable<string>) =>
      Effect.forEach(
        names,
        (name) => fs.remove(path.join(directory, name)).pipe(Effect.catchIf(isReason("NotFound"), () => Effect.void)),
        { discard: true }
      )

    const listTemporaries = fs.readDirectory(directory).pipe(
      Effect.map(temporaries),
      Effect.catchIf(isReason("NotFound"), () => Effect.succeed([]))
    )

    // Token temporaries, by token file, whose writer could not be judged when the store was built
    // (another host's, a running process's): the first write of their key deletes them, since it
    // holds the key's lock and no writer of the key can be at work without it.
    const unjudged = new Map<string, Array<string>>()

    const sweepUnjudged = (key: string) =>
      Effect.suspend(() => {
        const names = unjudged.get(fileNameFor(key))
        if (names === undefined) return Effect.void
        unjudged.delete(fileNameFor(key))
        return Effect.ignore(removeEntries(names))
      })

    // Under the key's lock, on logout: every copy of the token goes, whoever wrote it. Lock
    // temporaries of running processes stay: they are made by processes waiting for the lock.
    const sweepKey = (key: string) =>
      Effect.flatMap(listTemporaries, (found) =>
        removeEntries(
          found.filter((temporary) =>
            temporary.writer === "dead"
              ? temporary.target === fileNameFor(key) || temporary.target === lockNameFor(key)
              : temporary.writer === "unknown" && temporary.target === fileNameFor(key)
          ).map((temporary) => temporary.name)
        ))

    if (posix && (yield* fs.exists(directory).pipe(Effect.orElseSucceed(() => false)))) {
      yield* Effect.mapError(secureDirectory, (detail) => new ConfigurationError({ reason: "Environment", detail }))
      // Opening the store deletes what crashed writers of this host left, for every key at once.
      yield* Effect.flatMap(listTemporaries, (found) => {
        for (const temporary of found) {
          if (temporary.writer === "unknown" && temporary.target.endsWith(".json")) {
            unjudged.set(temporary.target, [...(unjudged.get(temporary.target) ?? []), temporary.name])
          }
        }
        const dead = found.filter((temporary) => temporary.writer === "dead")
        return Effect.zipRight(
          removeEntries(dead.map((temporary) => temporary.name)),
          dead.length === 0
            ? Effect.void
            : Effect.logDebug("deleted temporary files left by crashed writers").pipe(
              Effect.annotateLogs({ directory, count: dead.length })
            )
        )
      }).pipe(Effect.ignore)
    }

    // ---- reading ------------------------------------------------------------

    const read = (
      operation: StoreError["reason"],
      key: string
    ): Effect.Effect<Option.Option<Token>, StoreError> => {
      const file = filePath(key)
      return Effect.gen(function*() {
        const found = yield* readTokenFile(file).pipe(
          Effect.mapError((detail) => failure(operation, `cannot read ${file}: ${detail}`))
        )
        if (found._tag === "Missing") return Option.none<Token>()
        if (found._tag === "Text") return yield* readStored(key, found.text).pipe(Effect.annotateLogs("file", file))
        yield* Effect.logWarning(`the token file of ${JSON.stringify(key)} is refused: ${found.detail}`).pipe(
          Effect.annotateLogs("file", file)
        )
        return Option.none<Token>()
      })
    }

    // ---- writing ------------------------------------------------------------

    const writeAtomic = (operation: StoreError["reason"], file: string, text: string) =>
      Effect.gen(function*() {
        yield* ensureDirectory(operation)
        const temporary = path.join(directory, temporaryName(path.basename(file), randomId()))
        const write = Effect.scoped(
          Effect.gen(function*() {
            const handle = yield* fs.open(temporary, { flag: "wx", mode: 0o600 })
            yield* handle.writeAll(new TextEncoder().encode(text))
            // Flushed before the rename, so after a crash the name points at complete data.
            yield* handle.sync
          })
        ).pipe(Effect.zipRight(fs.rename(temporary, file)))
        yield* write.pipe(
          Effect.mapError(platformFailure(operation, `cannot write ${file}`)),
          Effect.onError(() => Effect.ignore(fs.remove(temporary)))
        )
        yield* syncDirectory
      }).pipe(Effect.uninterruptible)

    // Makes the rename itself durable. Not every platform can open a directory (Windows cannot), so
    // this is best effort.
    const syncDirectory = posix
      ? Effect.scoped(Effect.flatMap(fs.open(directory, { flag: "r" }), (handle) => handle.sync)).pipe(Effect.ignore)
      : Effect.void

    // ---- the lock file --------------------------------------------------------

    const lockPath = (key: string) => path.join(directory, lockNameFor(key))

    const lockText = (id: string, at: number) => JSON.stringify({ pid: process.pid, host, at, id })

    // When this store first saw each lock file's current content: the age of a lock whose own date
    // cannot be trusted (unreadable, or in the future). A holder that is alive renews its lock, which
    // changes the content; one entry per key at most, dropped when the lock is taken.
    const sightings = new Map<string, { readonly text: string; readonly since: number }>()
    const firstSeen = (lock: string, text: string, now: number): number => {
      const seen = sightings.get(lock)
      if (seen !== undefined && seen.text === text) return seen.since
      sightings.set(lock, { text, since: now })
      return now
    }

    const isStale = (info: Option.Option<LockInfo>, now: number, since: number): boolean => {
      if (Option.isNone(info)) return now - since >= staleAfter
      if (info.value.host === host) {
        // This process: every fiber of it queues on the process lock first, so a lock file in our
        // own name that we do not hold is a leftover (or a recycled pid).
        if (info.value.pid === process.pid) return true
        if (!isProcessAlive(info.value.pid)) return true
      }
      // A date in the future tells nothing of the lock's age: it is counted from the first sighting.
      return now - (info.value.at <= now ? info.value.at : since) >= staleAfter
    }

    // The lock file appears at once with its content: written to a private file first, then
    // hard-linked to the lock's name, which fails if the name exists (an exclusive create that a
    // crash cannot leave empty). Where hard links are not supported, an exclusive create (`wx`).
    const createLockFile = (lock: string, text: string) =>
      Effect.gen(function*() {
        const temporary = path.join(directory, temporaryName(path.basename(lock), randomId()))
        yield* fs.writeFileString(temporary, text, { flag: "wx", mode: 0o600 })
        const linked = yield* Effect.either(fs.link(temporary, lock)).pipe(
          Effect.ensuring(Effect.ignore(fs.remove(temporary)))
        )
        if (Either.isRight(linked) || isReason("AlreadyExists")(linked.left) || isReason("NotFound")(linked.left)) {
          return yield* linked
        }
        return yield* fs.writeFileString(lock, text, { flag: "wx", mode: 0o600 })
      })

    // Renames the stale lock out of the way (only one breaker can rename a given file), then checks
    // that what it moved is what it judged: if a new holder had taken the lock in between, the lock
    // goes back unless yet another holder has it by now.
    const breakLock = (lock: string, judged: string) =>
      Effect.gen(function*() {
        const tomb = path.join(directory, temporaryName(path.basename(lock), randomId(), "broken"))
        const moved = yield* Effect.either(fs.rename(lock, tomb))
        if (Either.isLeft(moved)) return
        const content = yield* Effect.either(fs.readFileString(tomb))
        if (Either.isRight(content) && content.right !== judged) yield* Effect.ignore(fs.link(tomb, lock))
        yield* Effect.ignore(fs.remove(tomb))
        yield* Effect.logWarning("broke a stale token-store lock").pipe(Effect.annotateLogs("file", lock))
      })

    // Polls until the lock file is ours or the deadline passes. Runs uninterruptibly but for the
    // sleeps, so an interruption never leaves a lock file behind that nobody will release.
    const takeFileLock = (
      lock: string,
      id: string,
      deadline: number,
      restore: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
    ) =>
      Effect.gen(function*() {
        // Bounded by the deadline: every round sleeps one poll interval or breaks a stale lock.
        for (let round = 0;; round++) {
          const now = yield* Clock.currentTimeMillis
          const created = yield* Effect.either(createLockFile(lock, lockText(id, now)))
          if (Either.isRight(created)) {
            sightings.delete(lock)
            return
          }
          if (!isReason("AlreadyExists")(created.left)) {
            return yield* platformFailure("Lock", `cannot create the lock file ${lock}`)(created.left)
          }
          const content = yield* Effect.either(fs.readFileString(lock))
          if (Either.isRight(content)) {
            // Unreadable content is a lock half-written by a holder that crashed while filling it.
            if (isStale(decodeLockInfo(content.right), now, firstSeen(lock, content.right, now))) {
              yield* breakLock(lock, content.right)
              continue
            }
          } else if (isReason("NotFound")(content.left)) {
            continue
          }
          if (now >= deadline) {
            return yield* failure(
              "Lock",
              `timed out after ${Duration.format(lockTimeout)} waiting for the lock file ${lock}`
            )
          }
          yield* restore(Effect.sleep(pollInterval))
          if (round > 1_000_000) return yield* failure("Lock", `gave up waiting for the lock file ${lock}`)
        }
      })

    // Deletes the lock file if it is still ours (a holder that stalled past `staleLockAfter` may
    // have had it broken and taken by someone else).
    const releaseFileLock = (lock: string, id: string) =>
      fs.readFileString(lock).pipe(
        Effect.flatMap((text) =>
          Option.match(decodeLockInfo(text), {
            onNone: () => Effect.void,
            onSome: (info) => info.id === id && info.host === host ? fs.remove(lock) : Effect.void
          })
        ),
        Effect.ignore
      )

    // Keeps a long-held lock fresh so waiters do not take it for a crashed holder's.
    const heartbeat = (lock: string, id: string) =>
      Effect.gen(function*() {
        const text = yield* fs.readFileString(lock)
        const info = decodeLockInfo(text)
        if (Option.isNone(info) || info.value.id !== id) return
        const now = yield* Clock.currentTimeMillis
        const temporary = path.join(directory, temporaryName(path.basename(lock), randomId()))
        yield* fs.writeFileString(temporary, lockText(id, now), { flag: "wx", mode: 0o600 })
        yield* fs.rename(temporary, lock).pipe(Effect.onError(() => Effect.ignore(fs.remove(temporary))))
      }).pipe(Effect.ignore, Effect.uninterruptible)

    /** Holds the lock of `key` for the rest of the scope; re-entrant within one fiber tree. */
    const lockKey = (
      key: string,
      renew: boolean
    ): Effect.Effect<Option.Option<{ readonly lock: string; readonly holder: Holder }>, StoreError, Scope.Scope> =>
      Effect.gen(function*() {
        const lock = lockPath(key)
        const held = (yield* FiberRef.get(heldLocks)).get(lock)
        if (held !== undefined && held.active) return Option.none()
        return yield* Effect.uninterruptibleMask((restore) =>
          Effect.gen(function*() {
            const start = yield* Clock.currentTimeMillis
            const deadline = start + Duration.toMillis(lockTimeout)
            yield* restore(processLocks.take(lock)).pipe(
              Effect.timeoutFail({
                duration: lockTimeout,
                onTimeout: () =>
                  failure("Lock", `timed out after ${Duration.format(lockTimeout)} waiting for the lock file ${lock}`)
              })
            )
            yield* ensureDirectory("Lock")
            const id = randomId()
            yield* takeFileLock(lock, id, deadline, restore)
            const holder: Holder = { active: true }
            yield* Effect.addFinalizer(() =>
              Effect.zipRight(
                Effect.sync(() => {
                  holder.active = false
                }),
                releaseFileLock(lock, id)
              )
            )
            if (renew) {
              yield* heartbeat(lock, id).pipe(
                Effect.repeat(Schedule.spaced(Duration.millis(Math.max(1, Math.floor(staleAfter / 3))))),
                Effect.delay(Duration.millis(Math.max(1, Math.floor(staleAfter / 3)))),
                Effect.interruptible,
                Effect.forkScoped
              )
            }
            return Option.some({ lock, holder })
          })
        )
      })

    const withKeyLock = <A, E>(key: string, self: Effect.Effect<A, E>): Effect.Effect<A, E | StoreError> =>
      Effect.scoped(
        Effect.flatMap(lockKey(key, false), () => self)
      )

    return TokenStore.of({
      get: (key) => read("Get", key),
      set: (key, token, expected) =>
        Either.match(encodeStored(token), {
          onLeft: (problem) => Effect.fail(failure("Set", `the token cannot be stored: ${problem.detail}`)),
          onRight: (text) => {
            return withKeyLock(
              key,
              Effect.zipRight(
                sweepUnjudged(key),
                writeIfExpected(read("Set", key), expected, writeAtomic("Set", filePath(key), text))
              )
            )
          }
        }),
      remove: (key, expected) => {
        const file = filePath(key)
        return withKeyLock(
          key,
          writeIfExpected(
            read("Remove", key),
            expected,
            fs.remove(file).pipe(
              Effect.catchIf(isReason("NotFound"), () => Effect.void),
              // A logout leaves no copy of the token behind, not even a crashed writer's.
              Effect.zipRight(sweepKey(key)),
              Effect.mapError(platformFailure("Remove", `cannot remove ${file}`))
            )
          )
        )
      },
      withRefreshLock: <A, E>(key: string, refresh: Effect.Effect<A, E>) =>
        Effect.scoped(
          Effect.flatMap(lockKey(key, true), (taken) =>
            Option.match(taken, {
              onNone: () => refresh,
              onSome: ({ holder, lock }) =>
                Effect.flatMap(
                  FiberRef.get(heldLocks),
                  (held) => Effect.locally(refresh, heldLocks, new Map([...held, [lock, holder]]))
                )
            }))
        )
    })
  })

/**
 * The file token store, on `FileSystem` and `Path`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options?: Options
): Layer.Layer<TokenStore, ConfigurationError, FileSystem.FileSystem | Path.Path> =>
  Layer.effect(TokenStore, make(options))

/**
 * The file token store on Node's file system: needs nothing.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerNode = (options?: Options): Layer.Layer<TokenStore, ConfigurationError> =>
  layer(options).pipe(Layer.provide(Layer.merge(NodeFileSystem.layer, NodePath.layer)))
