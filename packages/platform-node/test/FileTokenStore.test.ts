import { decodeStored, encodeStored, TokenStore } from "@effect-oauth/core/TokenStore"
import { TestServer } from "@effect-oauth/testing"
import { assert, describe, it } from "@effect/vitest"
import {
  Clock,
  ConfigProvider,
  Deferred,
  Effect,
  Either,
  Exit,
  Fiber,
  Logger,
  Option,
  Redacted,
  Ref,
  TestClock,
  TestServices
} from "effect"
import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, beforeAll } from "vitest"
import { cas, del, put, tokenOf, tokenStoreContract } from "../../core/test/TokenStoreContract.js"
import * as FileTokenStore from "../src/FileTokenStore.js"
import { fileNameFor } from "../src/internal/tokenFiles.js"

const root = fs.mkdtempSync(path.join(os.tmpdir(), "effect-oauth-filestore-"))
afterAll(() => fs.rmSync(root, { recursive: true, force: true }))

let dirs = 0
const freshDir = () => path.join(root, `case-${++dirs}`)

const secret = "access-SECRET-77aa"
const storeIn = (directory: string, options: FileTokenStore.Options = {}) =>
  Effect.flatMap(TokenStore, Effect.succeed).pipe(
    Effect.provide(FileTokenStore.layerNode({ directory, ...options }))
  )

const modeOf = (file: string) => fs.statSync(file).mode & 0o777

/** Collects log messages (and annotations) written while `self` runs. */
const capturingLogs = <A, E, R>(self: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const lines = yield* Ref.make<Array<string>>([])
    const logger = Logger.make(({ annotations, message }) => {
      const text = `${JSON.stringify(message)} ${JSON.stringify([...annotations])}`
      Effect.runSync(Ref.update(lines, (all) => [...all, text]))
    })
    const result = yield* self.pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
    return [result, yield* Ref.get(lines)] as const
  })

/** Lets real file I/O finish between TestClock steps (a few real milliseconds, never a lifetime). */
const settle = TestServices.provideLive(Effect.sleep("10 millis"))

/** The temporary files in a directory (a writer's, a lock taker's, a lock breaker's). */
const temporaries = (directory: string) =>
  fs.readdirSync(directory).filter((name) => name.endsWith(".tmp") || name.endsWith(".broken"))

const lockFileOf = (directory: string, key: string) =>
  path.join(directory, fileNameFor(key).replace(/\.json$/, ".lock"))

tokenStoreContract("FileTokenStore (contract)", FileTokenStore.layerNode({ directory: path.join(root, "contract") }), {
  sharedBetweenBuilds: true,
  encrypted: true
})

describe("FileTokenStore", () => {
  describe("files and permissions", () => {
    it.effect("creates the directory 0700 and token files 0600, one .json file per key", () =>
      Effect.gen(function*() {
        const directory = path.join(freshDir(), "nested", "tokens")
        const store = yield* storeIn(directory)
        assert.isTrue(yield* put(store, "osu/user:1", tokenOf(1)))
        assert.isTrue(yield* put(store, "osu/user:2", tokenOf(2)))
        assert.strictEqual(modeOf(directory), 0o700)
        const files = fs.readdirSync(directory)
        assert.deepStrictEqual(
          files.sort(),
          [
            fileNameFor("osu/user:1"),
            fileNameFor("osu/user:2")
          ].sort()
        )
        for (const file of files) {
          assert.match(file, /^[a-z0-9_-]+\.json$/)
          assert.strictEqual(modeOf(path.join(directory, file)), 0o600)
        }
      }))

    it.effect("tightens an existing world-readable token file to 0600", () =>
      Effect.gen(function*() {
        const directory = freshDir()
        const store = yield* storeIn(directory)
        yield* put(store, "k", tokenOf(1))
        const file = path.join(directory, fileNameFor("k"))
        fs.chmodSync(file, 0o644)
        assert.isTrue(Option.isSome(yield* store.get("k")))
        assert.strictEqual(modeOf(file), 0o600)
        fs.chmodSync(file, 0o666)
        yield* put(store, "k", tokenOf(2))
        assert.strictEqual(modeOf(file), 0o600)
      }))

    it.effect("file names are safe and distinct for keys that differ only in case or punctuation", () =>
      Effect.sync(() => {
        const keys = ["User", "user", "../../etc/passwd", "a/b", "a_b", "a b", ".hidden", "", "ü", "u"]
        const names = keys.map(fileNameFor)
        assert.strictEqual(new Set(names).size, keys.length)
        for (const name of names) {
          assert.match(name, /^[a-z0-9_-]*-[0-9a-f]{32}\.json$/)
          assert.notInclude(name, "/")
        }
      }))

    it.effect("writes leave no temporary files behind", () =>
      Effect.gen(function*() {
        const directory = freshDir()
        const store = yield* storeIn(directory)
        for (let i = 0; i < 5; i++) yield* put(store, "k", tokenOf(i))
        yield* cas(store, "k", tokenOf(9), { _tag: "Version", version: 4 })
        assert.deepStrictEqual(fs.readdirSync(directory), [fileNameFor("k")])
      }))

    it.effect("an unwritable directory is a StoreError naming the path, not the token", () =>
      Effect.gen(function*() {
        const blocker = freshDir()
        fs.writeFileSync(blocker, "not a directory")
        const store = yield* storeIn(path.join(blocker, "sub"))
        const error = yield* Effect.flip(put(store, "k", tokenOf(1, secret)))
        assert.strictEqual(error._tag, "@effect-oauth/StoreError")
        assert.include(error.message, blocker)
        assert.notInclude(error.message, secret)
        assert.notInclude(JSON.stringify(error), secret)
      }))
  })

  describe("other users of the machine", () => {
    // Tests run as any user: "another user" is a uid that is not this process's.
    const myUid = process.getuid!()
    const otherUid = myUid === 65534 ? 65533 : 65534
    const stored = (version: number) => Either.getOrThrow(encodeStored(tokenOf(version, `planted-${version}`)))
    const tokenFileOf = (directory: string, key: string) => path.join(directory, fileNameFor(key))

    it.effect("an existing directory others can write to is made 0700 when the store is built, if it is ours", () =>
      Effect.gen(function*() {
        for (const mode of [0o777, 0o770, 0o703, 0o755]) {
          const directory = freshDir()
          fs.mkdirSync(directory)
          fs.chmodSync(directory, mode)
          const [, logs] = yield* capturingLogs(storeIn(directory))
          assert.strictEqual(modeOf(directory), 0o700, `mode ${mode.toString(8)}`)
          assert.isTrue(logs.some((line) => line.includes("made the token directory private")), logs.join("\n"))
        }
      }))

    it.effect("a directory of another user that others can write to fails the layer (ConfigurationError), untouched", () =>
      Effect.gen(function*() {
        const directory = freshDir()
        fs.mkdirSync(directory)
        fs.chmodSync(directory, 0o777)
        fs.chownSync(directory, otherUid, otherUid)
        // What its owner planted there is never read.
        fs.writeFileSync(tokenFileOf(directory, "k"), stored(1))
        const error = yield* Effect.flip(storeIn(directory))
        assert.strictEqual(error._tag, "@effect-oauth/ConfigurationError")
        assert.include(error.message, directory)
        assert.include(error.message, `uid ${otherUid}`)
        assert.strictEqual(modeOf(directory), 0o777)
        // One only its owner can write to is used.
        fs.chmodSync(directory, 0o755)
        yield* storeIn(directory)
      }))

    it.effect("a directory that appears unsafe after the store was built fails the write (StoreError)", () =>
      Effect.gen(function*() {
        const directory = freshDir()
        const store = yield* storeIn(directory)
        fs.mkdirSync(directory)
        fs.chmodSync(directory, 0o777)
        fs.chownSync(directory, otherUid, otherUid)
        const error = yield* Effect.flip(put(store, "k", tokenOf(1, secret)))
        assert.strictEqual(error._tag, "@effect-oauth/StoreError")
        assert.include(error.message, "writable by other users")
        assert.notInclude(JSON.stringify(error), secret)
        assert.deepStrictEqual(fs.readdirSync(directory), [])
      }))

    it.effect("a shared sticky directory (like /tmp) is refused even when it is ours, and not tightened", () =>
      Effect.gen(function*() {
        const directory = freshDir()
        fs.mkdirSync(directory)
        fs.chmodSync(directory, 0o1777)
        const error = yield* Effect.flip(storeIn(directory))
        assert.strictEqual(error._tag, "@effect-oauth/ConfigurationError")
        assert.include(error.message, "sticky")
        assert.strictEqual(fs.statSync(directory).mode & 0o7777, 0o1777)
      }))

    it.effect("a token file of another user is not adopted (absent, with a warning); the next write replaces it", () =>
      Effect.gen(function*() {
        const directory = freshDir()
        fs.mkdirSync(directory, { mode: 0o777 })
        fs.chmodSync(directory, 0o777)
        const file = tokenFileOf(directory, "k")
        fs.writeFileSync(file, stored(1), { mode: 0o600 })
        fs.chownSync(file, otherUid, otherUid)
        const store = yield* storeIn(directory)
        const [read, logs] = yield* capturingLogs(store.get("k"))
        assert.isTrue(Option.isNone(read))
        assert.isTrue(logs.some((line) => line.includes(`belongs to uid ${otherUid}`)), logs.join("\n"))
        assert.isTrue(yield* cas(store, "k", tokenOf(2), { _tag: "Absent" }))
        assert.strictEqual(fs.statSync(file).uid, myUid)
        assert.strictEqual(Option.getOrThrow(yield* store.get("k")).version, 2)
      }))

    it.effect("a symbolic link at a token path is not followed: not read, not chmodded, replaced by the next write", () =>
      Effect.gen(function*() {
        const directory = freshDir()
        const store = yield* storeIn(directory)
        yield* put(store, "other", tokenOf(0))
        const elsewhere = `${freshDir()}-target`
        fs.writeFileSync(elsewhere, stored(1), { mode: 0o644 })
        fs.chmodSync(elsewhere, 0o644)
        const file = tokenFileOf(directory, "k")
        fs.symlinkSync(elsewhere, file)
        const [read, logs] = yield* capturingLogs(store.get("k"))
        assert.isTrue(Option.isNone(read), "the link's target was adopted")
        assert.isTrue(logs.some((line) => line.includes("symbolic link")), logs.join("\n"))
        assert.strictEqual(modeOf(elsewhere), 0o644, "the link's target was chmodded")
        // A compare-and-set reads through the same path.
        assert.isTrue(yield* cas(store, "k", tokenOf(2), { _tag: "Absent" }))
        assert.isTrue(fs.lstatSync(file).isFile())
        assert.strictEqual(fs.readFileSync(elsewhere, "utf8"), stored(1))
        assert.strictEqual(modeOf(elsewhere), 0o644)
      }))

    it.effect("a FIFO or a directory at a token path is corrupt, and the read does not block", () =>
      Effect.gen(function*() {
        const directory = freshDir()
        const store = yield* storeIn(directory)
        yield* put(store, "other", tokenOf(0))
        fs.mkdirSync(tokenFileOf(directory, "dir"))
        const made = spawnSync("mkfifo", [tokenFileOf(directory, "fifo")])
        assert.strictEqual(made.status, 0, "mkfifo failed")
        for (const key of ["dir", "fifo"]) {
          const [read, logs] = yield* capturingLogs(store.get(key))
          assert.isTrue(Option.isNone(read))
          assert.isTrue(logs.some((line) => line.includes("not a regular file")), logs.join("\n"))
        }
      }))

    it.effect("a token file over 1 MiB is corrupt without being read whole; exactly 1 MiB is read", () =>
      Effect.gen(function*() {
        const directory = freshDir()
        const store = yield* storeIn(directory)
        yield* put(store, "k", tokenOf(0))
        const file = tokenFileOf(directory, "k")
        const mib = 1024 * 1024
        // Valid JSON with trailing blanks: it would decode if it were read.
        const padded = (size: number) => stored(1) + " ".repeat(size - Buffer.byteLength(stored(1)))
        fs.writeFileSync(file, padded(mib))
        assert.strictEqual(Option.getOrThrow(yield* store.get("k")).version, 1)
        fs.writeFileSync(file, padded(mib + 1))
        const [read, logs] = yield* capturingLogs(store.get("k"))
        assert.isTrue(Option.isNone(read))
        assert.isTrue(logs.some((line) => line.includes("larger than 1048576 bytes")), logs.join("\n"))
        // 3 GiB, sparse: reading it whole would fail (or take the machine's memory).
        fs.truncateSync(file, 3 * 1024 * mib)
        assert.isTrue(Option.isNone(yield* store.get("k")))
        assert.isTrue(yield* cas(store, "k", tokenOf(2), { _tag: "Absent" }))
      }))
  })

  describe("default directory", () => {
    const withEnv = (env: Record<string, string>) =>
      Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))

    it.effect("honours XDG_CONFIG_HOME", () =>
      Effect.gen(function*() {
        assert.strictEqual(
          yield* FileTokenStore.defaultDirectory.pipe(withEnv({ XDG_CONFIG_HOME: "/xdg/config", HOME: "/home/u" })),
          process.platform === "win32" ? path.join("/xdg/config", "effect-oauth") : "/xdg/config/effect-oauth"
        )
        assert.strictEqual(
          yield* FileTokenStore.defaultDirectoryFor("linux").pipe(withEnv({ XDG_CONFIG_HOME: "/x", HOME: "/home/u" })),
          "/x/effect-oauth"
        )
      }))

    it.effect("ignores a relative XDG_CONFIG_HOME; falls back to ~/.config on Linux", () =>
      Effect.gen(function*() {
        assert.strictEqual(
          yield* FileTokenStore.defaultDirectoryFor("linux").pipe(withEnv({ XDG_CONFIG_HOME: "rel", HOME: "/home/u" })),
          "/home/u/.config/effect-oauth"
        )
        assert.strictEqual(
          yield* FileTokenStore.defaultDirectoryFor("linux").pipe(withEnv({ HOME: "/home/u" })),
          "/home/u/.config/effect-oauth"
        )
      }))

    it.effect("macOS: ~/Library/Application Support; Windows: %APPDATA%", () =>
      Effect.gen(function*() {
        assert.strictEqual(
          yield* FileTokenStore.defaultDirectoryFor("darwin").pipe(withEnv({ HOME: "/Users/u" })),
          "/Users/u/Library/Application Support/effect-oauth"
        )
        assert.strictEqual(
          yield* FileTokenStore.defaultDirectoryFor("win32").pipe(
            withEnv({ APPDATA: "C:\\Users\\u\\AppData\\Roaming", USERPROFILE: "C:\\Users\\u" })
          ),
          "C:\\Users\\u\\AppData\\Roaming\\effect-oauth"
        )
        assert.strictEqual(
          yield* FileTokenStore.defaultDirectoryFor("win32").pipe(withEnv({ USERPROFILE: "C:\\Users\\u" })),
          "C:\\Users\\u\\AppData\\Roaming\\effect-oauth"
        )
      }))

    it.effect("the layer without a directory uses the default directory", () =>
      Effect.gen(function*() {
        const xdg = freshDir()
        const store = yield* Effect.flatMap(TokenStore, Effect.succeed).pipe(
          Effect.provide(FileTokenStore.layerNode()),
          withEnv({ XDG_CONFIG_HOME: xdg, HOME: "/nonexistent-home" })
        )
        yield* put(store, "k", tokenOf(1))
        assert.isTrue(fs.existsSync(path.join(xdg, "effect-oauth", fileNameFor("k"))))
      }))
  })

  describe("corrupt files", () => {
    const full = Either.getOrThrow(encodeStored(tokenOf(1, secret)))
    const cases: ReadonlyArray<readonly [string, string]> = [
      ["garbage", "\u0000\u0001garbage"],
      ["empty", ""],
      ["partial JSON", full.slice(0, Math.floor(full.length / 2))],
      ["unknown version", full.replace("\"v\":1", "\"v\":99")],
      ["another format", JSON.stringify({ token: "x" })],
      ["an invalid token", full.replace("\"Bearer\"", "\"mac\"")]
    ]
    for (const [label, content] of cases) {
      it.effect(`${label} reads as absent with a warning that shows no token, and the next set overwrites it`, () =>
        Effect.gen(function*() {
          const directory = freshDir()
          const store = yield* storeIn(directory)
          yield* put(store, "k", tokenOf(0))
          const file = path.join(directory, fileNameFor("k"))
          fs.writeFileSync(file, content)
          const [read, logs] = yield* capturingLogs(store.get("k"))
          assert.isTrue(Option.isNone(read))
          assert.isTrue(logs.some((line) => line.includes("corrupt")), logs.join("\n"))
          for (const line of logs) {
            assert.notInclude(line, secret)
            assert.notInclude(line, "refresh-SECRET")
          }
          assert.isTrue(yield* cas(store, "k", tokenOf(2), { _tag: "Absent" }))
          assert.isTrue(Either.isRight(decodeStored(fs.readFileSync(file, "utf8"))))
          assert.strictEqual(Option.getOrThrow(yield* store.get("k")).version, 2)
        }))
    }
  })

  describe("locks", () => {
    const lockOf = (fields: { pid: number; host: string; at: number }) =>
      JSON.stringify({ ...fields, id: "someone-else" })

    it.effect("a lock left by a dead process is broken at once", () =>
      Effect.gen(function*() {
        const directory = freshDir()
        const store = yield* storeIn(directory)
        fs.mkdirSync(directory, { recursive: true })
        fs.writeFileSync(lockFileOf(directory, "k"), lockOf({ pid: 2 ** 30, host: os.hostname(), at: 0 }))
        assert.isTrue(yield* cas(store, "k", tokenOf(1), { _tag: "Absent" }))
        assert.isFalse(fs.existsSync(lockFileOf(directory, "k")))
      }))

    it.effect("a lock of another host older than staleLockAfter is broken, with a warning", () =>
      Effect.gen(function*() {
        const directory = freshDir()
        const store = yield* storeIn(directory, { staleLockAfter: "20 seconds" })
        yield* TestClock.setTime(100_000)
        fs.mkdirSync(directory, { recursive: true })
        fs.writeFileSync(lockFileOf(directory, "k"), lockOf({ pid: 1, host: "elsewhere", at: 70_000 }))
        const [written, logs] = yield* capturingLogs(put(store, "k", tokenOf(1)))
        assert.isTrue(written)
        assert.isTrue(logs.some((line) => line.includes("broke a stale")), logs.join("\n"))
        assert.isFalse(fs.existsSync(lockFileOf(directory, "k")))
      }))

    it.effect("a lock dated in the future is broken once it has stayed unchanged for staleLockAfter", () =>
      Effect.gen(function*() {
        const directory = freshDir()
        const store = yield* storeIn(directory, {
          staleLockAfter: "20 seconds",
          lockTimeout: "1 minute",
          lockPollInterval: "1 second"
        })
        yield* TestClock.setTime(100_000)
        fs.mkdirSync(directory, { recursive: true })
        fs.writeFileSync(lockFileOf(directory, "k"), lockOf({ pid: 1, host: "elsewhere", at: 100_000 + 3_600_000 }))
        const fiber = yield* Effect.fork(put(store, "k", tokenOf(1)))
        for (let i = 0; i < 15; i++) {
          yield* settle
          yield* TestClock.adjust("1 second")
        }
        yield* settle
        assert.isTrue(Option.isNone(yield* Fiber.poll(fiber)), "a fresh lock was broken at once")
        for (let i = 0; i < 30 && Option.isNone(yield* Fiber.poll(fiber)); i++) {
          yield* TestClock.adjust("1 second")
          yield* settle
        }
        assert.isTrue(Option.isSome(yield* Fiber.poll(fiber)), "the writer still waits for the lock")
        assert.isTrue(yield* Fiber.join(fiber))
        assert.strictEqual(Option.getOrThrow(yield* store.get("k")).version, 1)
      }))

    it.effect("a future-dated lock's age counts across acquires: a timed-out writer's successor breaks it", () =>
      Effect.gen(function*() {
        const directory = freshDir()
        const store = yield* storeIn(directory, {
          staleLockAfter: "20 seconds",
          lockTimeout: "5 seconds",
          lockPollInterval: "1 second"
        })
        fs.mkdirSync(directory, { recursive: true })
        fs.writeFileSync(lockFileOf(directory, "k"), lockOf({ pid: 1, host: "elsewhere", at: 10 ** 12 }))
        const first = yield* Effect.fork(Effect.flip(put(store, "k", tokenOf(1))))
        for (let i = 0; i < 20 && Option.isNone(yield* Fiber.poll(first)); i++) {
          yield* TestClock.adjust("1 second")
          yield* settle
        }
        assert.strictEqual((yield* Fiber.join(first)).reason, "Lock")
        yield* TestClock.adjust("20 seconds")
        const second = yield* Effect.fork(put(store, "k", tokenOf(2)))
        // No time passes: the lock is broken at once, or the writer sleeps on the TestClock for good.
        for (let i = 0; i < 100 && Option.isNone(yield* Fiber.poll(second)); i++) yield* settle
        assert.isTrue(Option.isSome(yield* Fiber.poll(second)), "the second writer still waits for the lock")
        assert.isTrue(yield* Fiber.join(second))
      }))

    it.effect("a held lock makes a writer wait until it is released", () =>
      Effect.gen(function*() {
        const directory = freshDir()
        const store = yield* storeIn(directory, {
          staleLockAfter: "2 minutes",
          lockTimeout: "10 minutes",
          lockPollInterval: "1 second"
        })
        fs.mkdirSync(directory, { recursive: true })
        fs.writeFileSync(lockFileOf(directory, "k"), lockOf({ pid: 1, host: "elsewhere", at: 0 }))
        const fiber = yield* Effect.fork(put(store, "k", tokenOf(1)))
        for (let i = 0; i < 10; i++) {
          yield* settle
          yield* TestClock.adjust("1 second")
        }
        yield* settle
        assert.isTrue(Option.isNone(yield* Fiber.poll(fiber)), "the writer did not wait")
        assert.isTrue(Option.isNone(yield* store.get("k")))
        fs.rmSync(lockFileOf(directory, "k"))
        for (let i = 0; i < 100 && Option.isNone(yield* Fiber.poll(fiber)); i++) {
          yield* TestClock.adjust("1 second")
          yield* settle
        }
        assert.isTrue(yield* Fiber.join(fiber))
        assert.strictEqual(Option.getOrThrow(yield* store.get("k")).version, 1)
      }))

    it.effect("a lock held past lockTimeout fails the writer with a StoreError (operation lock)", () =>
      Effect.gen(function*() {
        const directory = freshDir()
        const store = yield* storeIn(directory, {
          staleLockAfter: "1 hour",
          lockTimeout: "5 seconds",
          lockPollInterval: "1 second"
        })
        fs.mkdirSync(directory, { recursive: true })
        fs.writeFileSync(lockFileOf(directory, "k"), lockOf({ pid: 1, host: "elsewhere", at: 0 }))
        const fiber = yield* Effect.fork(Effect.flip(store.withRefreshLock!("k", Effect.void)))
        for (let i = 0; i < 100 && Option.isNone(yield* Fiber.poll(fiber)); i++) {
          yield* TestClock.adjust("1 second")
          yield* settle
        }
        const error = yield* Fiber.join(fiber)
        assert.strictEqual(error._tag, "@effect-oauth/StoreError")
        assert.strictEqual(error.reason, "Lock")
        assert.include(error.message, "k-")
        // The other holder's lock is left alone.
        assert.isTrue(fs.existsSync(lockFileOf(directory, "k")))
      }))

    it.effect("withRefreshLock: writes inside are re-entrant, other writers wait, the lock is released", () =>
      Effect.gen(function*() {
        const directory = freshDir()
        const store = yield* storeIn(directory)
        const lock = lockFileOf(directory, "k")
        // Forked before the lock is taken: a fiber forked inside the refresh shares its lock.
        const go = yield* Deferred.make<void>()
        const outside = yield* Effect.fork(
          Effect.zipRight(Deferred.await(go), cas(store, "k", tokenOf(5, "outside"), { _tag: "Version", version: 2 }))
        )
        yield* store.withRefreshLock!(
          "k",
          Effect.gen(function*() {
            assert.isTrue(fs.existsSync(lock))
            yield* Deferred.succeed(go, undefined)
            yield* settle
            assert.isTrue(Option.isNone(yield* Fiber.poll(outside)), "the other writer did not wait")
            // Inside its own lock: no deadlock.
            assert.isTrue(yield* cas(store, "k", tokenOf(1), { _tag: "Absent" }))
            assert.isTrue(yield* cas(store, "k", tokenOf(2), { _tag: "Version", version: 1 }))
          })
        )
        assert.isTrue(yield* Fiber.join(outside))
        assert.strictEqual(Redacted.value(Option.getOrThrow(yield* store.get("k")).accessToken), "outside")
        assert.isFalse(fs.existsSync(lock))
      }))

    it.effect("withRefreshLock releases the lock on failure, defect and interruption", () =>
      Effect.gen(function*() {
        const directory = freshDir()
        const store = yield* storeIn(directory)
        const lock = lockFileOf(directory, "k")
        const failed = yield* Effect.exit(store.withRefreshLock!("k", Effect.fail("boom")))
        assert.deepStrictEqual(failed, Exit.fail("boom"))
        assert.isFalse(fs.existsSync(lock))
        const died = yield* Effect.exit(store.withRefreshLock!("k", Effect.die("bad")))
        assert.isTrue(Exit.isFailure(died))
        assert.isFalse(fs.existsSync(lock))
        const fiber = yield* Effect.fork(store.withRefreshLock!("k", Effect.never))
        for (let i = 0; i < 50 && !fs.existsSync(lock); i++) yield* settle
        assert.isTrue(fs.existsSync(lock))
        yield* Fiber.interrupt(fiber)
        assert.isFalse(fs.existsSync(lock))
        // And the key is usable afterwards.
        assert.isTrue(yield* cas(store, "k", tokenOf(1), { _tag: "Absent" }))
      }))

    it.effect("a long hold renews the lock, so waiters do not break it", () =>
      Effect.gen(function*() {
        const directory = freshDir()
        const store = yield* storeIn(directory, { staleLockAfter: "30 seconds" })
        const lock = lockFileOf(directory, "k")
        const fiber = yield* Effect.fork(store.withRefreshLock!("k", Effect.never))
        for (let i = 0; i < 50 && !fs.existsSync(lock); i++) yield* settle
        const first = JSON.parse(fs.readFileSync(lock, "utf8")).at as number
        for (let i = 0; i < 12; i++) {
          yield* TestClock.adjust("5 seconds")
          yield* settle
        }
        const renewed = JSON.parse(fs.readFileSync(lock, "utf8")).at as number
        assert.isAbove(renewed, first + 30_000)
        yield* Fiber.interrupt(fiber)
        assert.isFalse(fs.existsSync(lock))
      }))
  })

  describe("processes", () => {
    const fixture = fileURLToPath(new URL("./fixtures/fileTokenStoreChild.ts", import.meta.url))
    const repoRoot = fileURLToPath(new URL("../../../", import.meta.url))

    // Each child runs a bundle of the fixture when esbuild (a dependency of tsx) can make one: it
    // starts in a fifth of the time that loading the sources through tsx takes, which matters for
    // fifty crash rounds. Otherwise the sources run through tsx.
    let bundle: string | undefined
    beforeAll(async () => {
      try {
        const esbuild = createRequire(createRequire(import.meta.url).resolve("tsx"))("esbuild") as {
          build: (options: Record<string, unknown>) => Promise<unknown>
        }
        const outfile = path.join(root, "child.mjs")
        await esbuild.build({
          entryPoints: [fixture],
          bundle: true,
          platform: "node",
          format: "esm",
          outfile,
          tsconfig: path.join(repoRoot, "tsconfig.json"),
          // CommonJS dependencies (undici) require Node's built-ins: give the ESM bundle a `require`.
          banner: {
            js: "import { createRequire as __cr } from \"node:module\"; const require = __cr(import.meta.url);"
          },
          logLevel: "silent"
        })
        bundle = outfile
      } catch (error) {
        process.stderr.write(`bundling the fixture failed, running it through tsx: ${String(error)}\n`)
        bundle = undefined
      }
    })

    const startChild = (args: ReadonlyArray<string>): ChildProcess =>
      spawn(process.execPath, bundle !== undefined ? [bundle, ...args] : ["--import", "tsx", fixture, ...args], {
        cwd: repoRoot,
        env: { ...process.env, TSX_TSCONFIG_PATH: path.join(repoRoot, "tsconfig.json") },
        stdio: ["ignore", "pipe", "pipe"]
      })

    /** Resolves when the child prints `line` (or rejects when it exits first). */
    const waitFor = (child: ChildProcess, line: string) =>
      new Promise<void>((resolve, reject) => {
        let out = ""
        let err = ""
        child.stdout!.on("data", (chunk: Buffer) => {
          out += chunk.toString()
          if (out.split("\n").includes(line)) resolve()
        })
        child.stderr!.on("data", (chunk: Buffer) => {
          err += chunk.toString()
        })
        child.on("exit", (code) => reject(new Error(`child exited (${code}) before "${line}": ${err}`)))
      })

    const exited = (child: ChildProcess) =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) resolve()
        else child.on("exit", () => resolve())
      })

    it.live(
      "SIGKILL at random moments: the file always holds the old or the new token, decodable",
      () =>
        Effect.promise(async () => {
          const directory = freshDir()
          const lanes = 5
          const killsPerLane = 10
          const lane = async (laneIndex: number) => {
            const key = `crash-${laneIndex}`
            const file = path.join(directory, fileNameFor(key))
            let lastVersion = -1
            for (let kill = 0; kill < killsPerLane; kill++) {
              const from = (lastVersion + 1) * 1
              const child = startChild(["write", directory, key, String(from)])
              await waitFor(child, "ready")
              await new Promise((resolve) => setTimeout(resolve, 30 + Math.floor(Math.random() * 120)))
              child.kill("SIGKILL")
              await exited(child)
              const decoded = decodeStored(fs.readFileSync(file, "utf8"))
              assert.isTrue(Either.isRight(decoded), `lane ${laneIndex}, kill ${kill}: the file does not decode`)
              const token = Either.getOrThrow(decoded)
              assert.strictEqual(Redacted.value(token.accessToken), `token-${token.version}`)
              assert.isAtLeast(token.version, Math.max(from, lastVersion))
              assert.strictEqual(modeOf(file), 0o600)
              lastVersion = token.version
            }
          }
          await Promise.all(Array.from({ length: lanes }, (_, i) => lane(i)))
          // Opening the store deletes the temporary files the killed writers left, and it works over
          // what the crashes left behind.
          const store = await Effect.runPromise(storeIn(directory))
          assert.deepStrictEqual(temporaries(directory), [])
          const written = await Effect.runPromise(put(store, "crash-0", tokenOf(10 ** 7)))
          assert.isTrue(written)
        }),
      90_000
    )

    /** Runs a writer that stalls before its rename (its temporary file complete), and SIGKILLs it. */
    const crashWriter = async (directory: string, key: string, version: number) => {
      const child = startChild(["stall", directory, key, String(version)])
      await waitFor(child, "stalled")
      child.kill("SIGKILL")
      await exited(child)
    }

    const hostTag = createHash("sha256").update(os.hostname(), "utf8").digest("hex").slice(0, 8)

    it.live(
      "a writer killed before its rename: its temporary file (a full token) is deleted when the store is next opened",
      () =>
        Effect.promise(async () => {
          const directory = freshDir()
          await crashWriter(directory, "a", 7)
          const first = temporaries(directory)
          assert.strictEqual(first.length, 1)
          assert.include(fs.readFileSync(path.join(directory, first[0]!), "utf8"), "refresh-7")
          // The next process to open the store deletes it, before it crashes in turn.
          await crashWriter(directory, "a", 8)
          const left = temporaries(directory)
          assert.strictEqual(left.length, 1)
          assert.include(fs.readFileSync(path.join(directory, left[0]!), "utf8"), "refresh-8")
          // A temporary of a writer that is alive (its pid runs on this host) is not a leftover.
          const live = `.${fileNameFor("a")}.${hostTag}-${process.ppid}.${"ab".repeat(12)}.tmp`
          fs.writeFileSync(path.join(directory, live), "in progress", { mode: 0o600 })
          const store = await Effect.runPromise(storeIn(directory))
          assert.isTrue(Option.isNone(await Effect.runPromise(store.get("a"))))
          assert.deepStrictEqual(temporaries(directory), [live])
          // Writing takes the key's lock: no other writer can be at work, whatever its pid.
          assert.isTrue(await Effect.runPromise(cas(store, "a", tokenOf(1), { _tag: "Absent" })))
          assert.deepStrictEqual(temporaries(directory), [])
        }),
      60_000
    )

    it.live(
      "remove (logout) deletes crashed writers' temporary files too: no copy of the token is left",
      () =>
        Effect.promise(async () => {
          const directory = freshDir()
          const store = await Effect.runPromise(storeIn(directory))
          await Effect.runPromise(put(store, "b", tokenOf(1)))
          // Built before the crash, the store has not seen its leftover.
          await crashWriter(directory, "b", 7)
          // Leftovers this process cannot judge by pid: another host's, and an older release's;
          // and another key's, which are not this logout's business.
          const name = fileNameFor("b")
          for (
            const leftover of [
              `.${name}.0badc0de-1.${"cd".repeat(12)}.tmp`,
              `.${name}.${"ef".repeat(12)}.tmp`,
              `.${fileNameFor("c")}.0badc0de-1.${"cd".repeat(12)}.tmp`
            ]
          ) fs.writeFileSync(path.join(directory, leftover), "refresh-SECRET-old", { mode: 0o600 })
          assert.strictEqual(temporaries(directory).length, 4)
          await Effect.runPromise(del(store, "b"))
          const remaining = fs.readdirSync(directory)
          assert.isFalse(remaining.some((file) => file.includes(name)), remaining.join(", "))
          assert.strictEqual(temporaries(directory).length, 1)
          assert.isTrue(Option.isNone(await Effect.runPromise(store.get("b"))))
        }),
      60_000
    )

    it.live(
      "two processes share one rotating refresh token for 10 s with 1-second tokens: one refresh per window, no invalid_grant",
      () =>
        Effect.gen(function*() {
          const server = yield* TestServer.TestServer
          yield* server.configure({ accessTokenLifetimeSeconds: 1, rotateRefreshTokens: true })
          const directory = freshDir()
          const key = "shared-user"
          const issued = yield* server.issueToken({ scopes: ["identify"], lifetimeSeconds: 1 })
          const now = yield* Clock.currentTimeMillis
          const store = yield* storeIn(directory)
          yield* put(store, key, TestServer.toToken(issued, now))
          const secret = Option.getOrThrow(server.client.clientSecret)
          const millis = 10_000
          const results = yield* Effect.promise(() =>
            Promise.all([0, 1].map(async () => {
              const child = startChild([
                "session",
                directory,
                key,
                server.url,
                server.client.clientId,
                Redacted.value(secret),
                String(millis)
              ])
              let out = ""
              let err = ""
              child.stdout!.on("data", (chunk: Buffer) => {
                out += chunk.toString()
              })
              child.stderr!.on("data", (chunk: Buffer) => {
                err += chunk.toString()
              })
              await exited(child)
              const match = /result (\d+) (\d+)/.exec(out)
              assert.isNotNull(match, `a child printed no result (exit ${child.exitCode}): ${err}`)
              return { ok: Number(match![1]), failed: Number(match![2]) }
            }))
          )
          const counters = yield* server.counters
          const refreshes = counters.tokenRequests.refresh_token
          assert.strictEqual(counters.invalidGrant, 0)
          assert.strictEqual(refreshes.error, 0)
          // Ten seconds of one-second tokens. The refresh lead follows the token requests' latency, up
          // to half the lifetime, so on a loaded machine one process alone refreshes up to twice a
          // second (20, and the startup); two processes refreshing each on their own would be twice
          // that, and would spend each other's rotated refresh tokens (invalid_grant, above).
          assert.isAtLeast(refreshes.ok, 6)
          assert.isAtMost(refreshes.ok, 22, `refreshes: ${refreshes.ok}`)
          for (const result of results) {
            assert.strictEqual(result.failed, 0)
            assert.isAtLeast(result.ok, 50)
          }
        }).pipe(Effect.provide(TestServer.layer())),
      60_000
    )

    it.live(
      "two processes increment a counter under withRefreshLock: no update is lost",
      () =>
        Effect.promise(async () => {
          const directory = freshDir()
          fs.mkdirSync(directory, { recursive: true })
          const counter = path.join(directory, "counter")
          fs.writeFileSync(counter, "0")
          const times = 25
          const children = [0, 1].map(() => startChild(["increment", directory, "shared", counter, String(times)]))
          await Promise.all(children.map((child) => waitFor(child, "done")))
          await Promise.all(children.map(exited))
          assert.strictEqual(Number(fs.readFileSync(counter, "utf8")), 2 * times)
        }),
      60_000
    )
  })
})
