import type { StoreError } from "@effect-oauth/core/OAuthError"
import { encodeStored, TokenStore } from "@effect-oauth/core/TokenStore"
import { assert, describe, it } from "@effect/vitest"
import {
  Clock,
  ConfigProvider,
  Deferred,
  Duration,
  Effect,
  Either,
  Exit,
  Fiber,
  Layer,
  Option,
  Redacted,
  Scope
} from "effect"
import { afterAll, beforeAll } from "vitest"
import { captureLogs, tokenOf, tokenStoreContract } from "../../core/test/TokenStoreContract.js"
import * as internal from "../src/internal/tokenStore.js"
import * as RedisTokenStore from "../src/RedisTokenStore.js"
import * as RedisServer from "./redisServer.js"

// One server for the contract and the tests that leave it running; the fault tests start their own.
let server: RedisServer.RedisServer
const serverScope = Effect.runSync(Scope.make())
beforeAll(async () => {
  server = await Effect.runPromise(Scope.extend(RedisServer.make(), serverScope))
})
afterAll(() => Effect.runPromise(Scope.close(serverScope, Exit.void)))

const storeLayer = (options: RedisTokenStore.Options = {}) =>
  Layer.unwrapEffect(Effect.sync(() => RedisTokenStore.layer({ url: server.url, ...options })))

tokenStoreContract("RedisTokenStore (contract)", storeLayer(), { sharedBetweenBuilds: true, encrypted: true })

const secret = "access-SECRET-5e1d"
let keys = 0
const freshKey = (label: string) => `test/${++keys}/${label}`

const settings = (overrides: Partial<internal.StoreSettings> = {}): internal.StoreSettings => ({
  prefix: "effect-oauth:",
  leaseTtl: Duration.seconds(10),
  lockTimeout: Duration.seconds(10),
  pollInterval: Duration.millis(100),
  recoveryWindow: Duration.seconds(2),
  ...overrides
})

/** The store and its compare-and-set, on `url`, for the rest of the scope. */
const open = (url: string, overrides: Partial<internal.StoreSettings> = {}, connection = {}) =>
  internal.make({ url, commandTimeout: "500 millis", ...connection }, settings(overrides))

const since = (start: number) => Effect.map(Clock.currentTimeMillis, (now) => now - start)

describe("RedisTokenStore", () => {
  describe("values", () => {
    it.scopedLive("stores the core's stored-token JSON under <prefix>token:<key>", () =>
      Effect.gen(function*() {
        const service = yield* open(server.url, { prefix: "values-test:" })
        const key = freshKey("format")
        yield* service.set(key, tokenOf(3), { _tag: "Absent" })
        const raw = yield* server.cli("GET", `values-test:token:${key}`)
        assert.strictEqual(raw.trim(), Either.getOrThrow(encodeStored(tokenOf(3))))
      }))

    const garbage: ReadonlyArray<readonly [string, ReadonlyArray<string>]> = [
      ["text", ["SET", "%KEY%", "\u0001 not a token"]],
      ["JSON of another kind", ["SET", "%KEY%", "{\"token\":{\"version\":1}}"]],
      ["an unknown format version", ["SET", "%KEY%", "{\"format\":\"effect-oauth/token\",\"v\":9,\"token\":{}}"]],
      ["a hash", ["HSET", "%KEY%", "field", "value"]]
    ]
    for (const [label, command] of garbage) {
      it.scopedLive(`${label} under a key is absent (logged, redacted), and an Absent write replaces it`, () =>
        Effect.gen(function*() {
          const service = yield* open(server.url)
          const key = freshKey("garbage")
          yield* service.set(key, tokenOf(1, secret), { _tag: "Absent" })
          yield* server.cli("DEL", `effect-oauth:token:${key}`)
          yield* server.cli(...command.map((part) => part.replace("%KEY%", `effect-oauth:token:${key}`)))
          const [read, lines] = yield* captureLogs(service.get(key))
          assert.isTrue(Option.isNone(read))
          assert.isTrue(lines.some((line) => line.includes("corrupt")), lines.join("\n"))
          for (const line of lines) assert.notInclude(line, "SECRET")
          assert.strictEqual((yield* service.set(key, tokenOf(2), { _tag: "Absent" }))._tag, "Written")
          assert.strictEqual(Option.getOrThrow(yield* service.get(key)).version, 2)
        }))
    }

    it.scopedLive("a conflict answers the value stored now (for Conflict(current))", () =>
      Effect.gen(function*() {
        const store = yield* open(server.url)
        const key = freshKey("conflict")
        assert.deepStrictEqual(yield* store.set(key, tokenOf(1), { _tag: "Absent" }), { _tag: "Written" })
        const outcome = yield* store.set(key, tokenOf(5), { _tag: "Version", version: 0 })
        assert.strictEqual(outcome._tag, "Conflict")
        assert.strictEqual(outcome._tag === "Conflict" && Option.getOrThrow(outcome.current).version, 1)
        const absent = yield* store.set(freshKey("none"), tokenOf(5), { _tag: "Version", version: 0 })
        assert.deepStrictEqual(absent, { _tag: "Conflict", current: Option.none() })
      }))

    it.scopedLive("remove is a compare-and-delete: refused with the stored value when the version differs", () =>
      Effect.gen(function*() {
        const service = yield* open(server.url)
        const key = freshKey("remove")
        yield* service.set(key, tokenOf(7), { _tag: "Absent" })
        const refused = yield* service.remove(key, { _tag: "Version", version: 6 })
        assert.strictEqual(refused._tag === "Conflict" && Option.getOrThrow(refused.current).version, 7)
        assert.deepStrictEqual(yield* service.remove(key, { _tag: "Version", version: 7 }), { _tag: "Written" })
        assert.deepStrictEqual(yield* service.remove(key, { _tag: "Absent" }), { _tag: "Written" })
        assert.strictEqual((yield* server.cli("EXISTS", `effect-oauth:token:${key}`)).trim(), "0")
      }))
  })

  describe("connection", () => {
    it.scopedLive("Redis unreachable at start: the layer fails with a StoreError (Unavailable) naming host and port", () =>
      Effect.gen(function*() {
        const unused = yield* RedisServer.make()
        yield* unused.kill
        const error = yield* Effect.flip(
          Layer.build(RedisTokenStore.layer({
            url: Redacted.make(`redis://user:pw-SECRET-1@127.0.0.1:${unused.port}`),
            connectTimeout: "1 second"
          }))
        )
        assert.strictEqual(error._tag, "@effect-oauth/StoreError")
        assert.strictEqual(error.reason, "Unavailable")
        assert.include(error.detail, `Redis at 127.0.0.1:${unused.port} `)
        assert.include(error.message, "ECONNREFUSED")
        for (const text of [error.message, JSON.stringify(error), String(error)]) assert.notInclude(text, "SECRET")
      }))

    it.scopedLive("a password from Config.redacted; a wrong one fails with a StoreError (Unavailable) without showing it", () =>
      Effect.gen(function*() {
        const guarded = yield* RedisServer.make(["--requirepass", "pw-SECRET-2"])
        const withEnv = (env: Record<string, string>) =>
          Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))
        const store = yield* Layer.build(RedisTokenStore.layerConfig()).pipe(
          withEnv({ REDIS_URL: guarded.url, REDIS_PASSWORD: "pw-SECRET-2" }),
          Effect.map((context) => Layer.succeedContext(context))
        )
        yield* Effect.flatMap(TokenStore, (s) => s.set("k", tokenOf(1), { _tag: "Absent" })).pipe(Effect.provide(store))
        const error = yield* Effect.flip(
          Layer.build(RedisTokenStore.layerConfig()).pipe(
            withEnv({ REDIS_URL: guarded.url, REDIS_PASSWORD: "wrong-SECRET-3" })
          )
        )
        assert.strictEqual(error._tag, "@effect-oauth/StoreError")
        const text = `${error.message} ${JSON.stringify(error)}`
        assert.match(text, /WRONGPASS|NOAUTH|invalid/i)
        assert.notInclude(text, "SECRET")
      }))

    it.scopedLive(
      "a paused Redis (SIGSTOP): every operation fails within the command timeout; SIGCONT heals",
      () =>
        Effect.gen(function*() {
          const redis = yield* RedisServer.make()
          const service = yield* open(redis.url, {}, { commandTimeout: "300 millis" })
          yield* service.set("k", tokenOf(1, secret), { _tag: "Absent" })
          yield* redis.pause
          yield* Effect.addFinalizer(() => redis.resume)
          const operations: ReadonlyArray<Effect.Effect<unknown, StoreError>> = [
            service.get("k"),
            service.set("k", tokenOf(2, secret), { _tag: "Version", version: 1 }),
            service.remove("k", { _tag: "Version", version: 1 })
          ]
          for (const operation of operations) {
            const start = yield* Clock.currentTimeMillis
            const error = yield* Effect.flip(operation)
            const took = yield* since(start)
            assert.strictEqual(error._tag, "@effect-oauth/StoreError")
            assert.include(error.message, "timed out")
            assert.notInclude(JSON.stringify(error) + error.message, "SECRET")
            assert.isAtMost(took, 1_500)
          }
          yield* redis.resume
          // Bounded: the connection is usable again once the server answers.
          let read = yield* Effect.either(service.get("k"))
          for (let i = 0; i < 50 && Either.isLeft(read); i++) {
            yield* Effect.sleep("50 millis")
            read = yield* Effect.either(service.get("k"))
          }
          assert.isTrue(Either.isRight(read))
        }),
      { timeout: 20_000 }
    )

    it.scopedLive("DEBUG SLEEP: a slow answer is bounded by the command timeout, not waited out", () =>
      Effect.gen(function*() {
        const service = yield* open(server.url, {}, { commandTimeout: "200 millis" })
        const sleeper = yield* Effect.fork(server.cli("DEBUG", "SLEEP", "1"))
        yield* Effect.sleep("50 millis")
        const start = yield* Clock.currentTimeMillis
        const error = yield* Effect.flip(service.get(freshKey("slow")))
        assert.strictEqual(error._tag, "@effect-oauth/StoreError")
        assert.isAtMost(yield* since(start), 800)
        yield* Fiber.join(sleeper)
      }))
  })

  describe("the refresh lease", () => {
    it.scopedLive("one holder at a time: the second waits and is woken by the release (pub/sub, not the poll)", () =>
      Effect.gen(function*() {
        const a = yield* open(server.url, { pollInterval: Duration.seconds(5) })
        const b = yield* open(server.url, { pollInterval: Duration.seconds(5) })
        const key = freshKey("lease")
        const inside = yield* Deferred.make<void>()
        const finish = yield* Deferred.make<void>()
        const first = yield* Effect.fork(
          a.withRefreshLock!(key, Effect.zipRight(Deferred.succeed(inside, undefined), Deferred.await(finish)))
        )
        yield* Deferred.await(inside)
        assert.strictEqual((yield* server.cli("EXISTS", `effect-oauth:lease:${key}`)).trim(), "1")
        const second = yield* Effect.fork(b.withRefreshLock!(key, Clock.currentTimeMillis))
        yield* Effect.sleep("300 millis")
        assert.isTrue(Option.isNone(yield* Fiber.poll(second)), "the second holder did not wait")
        const released = yield* Clock.currentTimeMillis
        yield* Deferred.succeed(finish, undefined)
        yield* Fiber.join(first)
        const entered = yield* Fiber.join(second)
        // Woken by the announcement: far sooner than the 5-second poll.
        assert.isAtMost(entered - released, 1_000)
        assert.strictEqual((yield* server.cli("EXISTS", `effect-oauth:lease:${key}`)).trim(), "0")
      }))

    it.scopedLive("the lease is released only by its owner", () =>
      Effect.gen(function*() {
        const service = yield* open(server.url, { leaseTtl: Duration.millis(400) })
        const key = freshKey("owner")
        const lease = `effect-oauth:lease:${key}`
        yield* service.withRefreshLock!(
          key,
          Effect.gen(function*() {
            // Someone else holds it now (as after a pause longer than the lease).
            yield* server.cli("SET", lease, "someone-else")
            yield* Effect.sleep("50 millis")
          })
        )
        assert.strictEqual((yield* server.cli("GET", lease)).trim(), "someone-else")
      }))

    it.scopedLive("a refresh longer than the lease keeps it by renewal", () =>
      Effect.gen(function*() {
        const a = yield* open(server.url, { leaseTtl: Duration.millis(300) })
        const b = yield* open(server.url, { leaseTtl: Duration.millis(300), lockTimeout: Duration.millis(200) })
        const key = freshKey("renew")
        const inside = yield* Deferred.make<void>()
        const holder = yield* Effect.fork(
          a.withRefreshLock!(
            key,
            Effect.zipRight(Deferred.succeed(inside, undefined), Effect.sleep("1200 millis"))
          )
        )
        yield* Deferred.await(inside)
        yield* Effect.sleep("700 millis")
        const error = yield* Effect.flip(b.withRefreshLock!(key, Effect.void))
        assert.strictEqual(error._tag, "@effect-oauth/StoreError")
        assert.strictEqual(error.reason, "Lock")
        assert.include(error.message, "held by another process")
        yield* Fiber.join(holder)
      }))

    it.scopedLive("a holder that vanished without releasing: the next one gets the lease once it expires", () =>
      Effect.gen(function*() {
        const service = yield* open(server.url, { leaseTtl: Duration.seconds(1) })
        const key = freshKey("expired")
        yield* server.cli("SET", `effect-oauth:lease:${key}`, "crashed-owner", "PX", "800")
        const start = yield* Clock.currentTimeMillis
        yield* service.withRefreshLock!(key, Effect.void)
        const waited = yield* since(start)
        assert.isAtLeast(waited, 600)
        assert.isAtMost(waited, 1_500)
      }))

    it.scopedLive("released on failure, defect and interruption", () =>
      Effect.gen(function*() {
        const service = yield* open(server.url)
        const key = freshKey("release")
        const exists = Effect.map(server.cli("EXISTS", `effect-oauth:lease:${key}`), (out) => out.trim() === "1")
        assert.deepStrictEqual(
          yield* Effect.exit(service.withRefreshLock!(key, Effect.fail("boom"))),
          Exit.fail("boom")
        )
        assert.isFalse(yield* exists)
        assert.isTrue(Exit.isFailure(yield* Effect.exit(service.withRefreshLock!(key, Effect.die("bad")))))
        assert.isFalse(yield* exists)
        const inside = yield* Deferred.make<void>()
        const fiber = yield* Effect.fork(
          service.withRefreshLock!(key, Effect.zipRight(Deferred.succeed(inside, undefined), Effect.never))
        )
        yield* Deferred.await(inside)
        assert.isTrue(yield* exists)
        yield* Fiber.interrupt(fiber)
        assert.isFalse(yield* exists)
      }))

    it.scopedLive("nested in itself it does not wait; the first read inside is the one made under the lease", () =>
      Effect.gen(function*() {
        const service = yield* open(server.url, { lockTimeout: Duration.millis(300) })
        const key = freshKey("nested")
        yield* service.set(key, tokenOf(4), { _tag: "Absent" })
        const seen = yield* service.withRefreshLock!(
          key,
          Effect.gen(function*() {
            // Changed behind the lease's back after it was taken: the prefetched read is handed out
            // once, later reads go to Redis.
            yield* server.cli("SET", `effect-oauth:token:${key}`, Either.getOrThrow(encodeStored(tokenOf(9))))
            const first = Option.getOrThrow(yield* service.get(key)).version
            const second = Option.getOrThrow(yield* service.get(key)).version
            const nested = yield* service.withRefreshLock!(key, Effect.succeed("nested"))
            return [first, second, nested] as const
          })
        )
        assert.deepStrictEqual(seen, [4, 9, "nested"])
      }))
  })

  describe("Redis restarted empty", () => {
    it.scopedLive(
      "the newest token each process holds is written back; no lease during the recovery window",
      () =>
        Effect.gen(function*() {
          const redis = yield* RedisServer.make()
          const a = yield* open(redis.url, { recoveryWindow: Duration.millis(800) })
          const b = yield* open(redis.url, { recoveryWindow: Duration.millis(800) })
          const key = "restart/slot"
          yield* a.set(key, tokenOf(1), { _tag: "Absent" })
          assert.strictEqual(Option.getOrThrow(yield* b.get(key)).version, 1)
          // a refreshed to 2; Redis dies before b reads it, and a's write of 3 fails.
          yield* a.set(key, tokenOf(2), { _tag: "Version", version: 1 })
          yield* redis.kill
          assert.isTrue(
            Either.isLeft(yield* Effect.either(a.set(key, tokenOf(3, secret), { _tag: "Version", version: 2 })))
          )
          yield* redis.restart
          const start = yield* Clock.currentTimeMillis
          // b wants to refresh: it waits out the recovery window, then finds a's newest token.
          const found = yield* b.withRefreshLock!(key, b.get(key))
          const waited = yield* since(start)
          assert.strictEqual(Option.getOrThrow(found).version, 3)
          assert.strictEqual(Redacted.value(Option.getOrThrow(found).accessToken), secret)
          assert.isAtLeast(waited, 500)
          assert.isAtMost(waited, 3_000)
        }),
      { timeout: 20_000 }
    )
  })
})
