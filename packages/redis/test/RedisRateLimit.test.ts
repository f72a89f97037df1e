import * as RateLimit from "@effect-oauth/core/RateLimit"
import { assert, describe, it } from "@effect/vitest"
import { Context, Duration, Effect, Layer } from "effect"
import * as RedisRateLimit from "../src/RedisRateLimit.js"
import { busiestWindow } from "./processes.js"
import * as RedisServer from "./redisServer.js"

describe("RedisRateLimit", () => {
  it.scopedLive(
    "two limiters on one Redis share the limit: no window of the interval holds more than the limit",
    () =>
      Effect.gen(function*() {
        const redis = yield* RedisServer.make()
        const build = Effect.map(
          Layer.build(RedisRateLimit.layer({ url: redis.url })),
          (context) => Context.get(context, RateLimit.RateLimit)
        )
        const a = yield* build
        const b = yield* build
        const rule = { limit: 10, interval: Duration.millis(600) }
        const taken: Array<number> = []
        const take = (limiter: RateLimit.RateLimit.Service) =>
          Effect.zipRight(
            limiter.take("test/shared", rule),
            Effect.sync(() => taken.push(performance.timeOrigin + performance.now()))
          )
        // 2 × 2 fibers × 12 turns: 48 turns, far more than one interval's 10.
        yield* Effect.all([a, a, b, b].map((limiter) => Effect.repeatN(take(limiter), 11)), {
          concurrency: "unbounded"
        })
        assert.strictEqual(taken.length, 48)
        assert.isAtMost(busiestWindow(taken, 600), 10)
        // And the limit is used, not starved: five intervals let far more than one interval's worth through.
        assert.isAbove(busiestWindow(taken, 3_000), 10)
      }),
    { timeout: 20_000 }
  )

  it.scopedLive("Redis unreachable at start: the layer fails with a StoreError (Unavailable)", () =>
    Effect.gen(function*() {
      const redis = yield* RedisServer.make()
      yield* redis.kill
      const error = yield* Effect.flip(
        Layer.build(RedisRateLimit.layer({ url: redis.url, connectTimeout: "500 millis" }))
      )
      assert.strictEqual(error._tag, "@effect-oauth/StoreError")
      assert.strictEqual(error.reason, "Unavailable")
      assert.include(error.detail, `Redis at 127.0.0.1:${redis.port} `)
    }))
})
