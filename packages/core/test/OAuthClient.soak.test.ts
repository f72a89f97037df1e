import { OAuthClient, Scopes, TokenStore } from "@effect-oauth/core"
import { Simulation, TestServer } from "@effect-oauth/testing"
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Fiber, Layer, Option, Supervisor } from "effect"
import * as v8 from "node:v8"
import * as vm from "node:vm"

// A full collection before reading the heap, so the soak compares retained memory, not garbage.
v8.setFlagsFromString("--expose-gc")
const collectGarbage = vm.runInNewContext("gc") as () => void

// 5,000 cycles in the test suite; `pnpm soak` runs 100,000 (OAUTH_SOAK_CYCLES) and prints the figures.
const cycles = Number(process.env.OAUTH_SOAK_CYCLES ?? 5_000)
const report = process.env.OAUTH_SOAK_REPORT === "1"

describe("OAuthClient over many cycles", () => {
  // Each cycle is a real token request through the in-memory server, on simulated time.
  it.scoped(`${cycles} simulated refresh cycles keep memory, timers and the fiber count flat`, () => {
    const time = Simulation.clock()
    return Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      const supervisor = yield* Supervisor.track
      const client = yield* OAuthClient.make({
        provider: server.provider(),
        client: server.client,
        session: OAuthClient.clientCredentials(Scopes.make("read"))
      }).pipe(Effect.supervised(supervisor))
      yield* client.token
      const alive = Effect.flatMap(
        supervisor.value,
        (fibers) => Effect.map(Effect.forEach(fibers, Fiber.poll), (polls) => polls.filter(Option.isNone).length)
      )
      const timers = Effect.sync(time.pending)
      const heap = () => {
        collectGarbage()
        return process.memoryUsage().heapUsed
      }
      const tenth = Math.max(1, Math.floor(cycles / 10))
      let fibersAtTenth = 0
      let heapAtTenth = 0
      let timersAtTenth = 0
      for (let cycle = 1; cycle <= cycles; cycle++) {
        // Each cycle replaces the token and moves the refresh time; every 100th cycle time moves
        // past the refresh time (10-second tokens), so the scheduler's own timer refreshes, and the
        // caller joins that refresh.
        if (cycle % 100 === 0) {
          yield* time.advance(Duration.seconds(10))
          yield* client.token
          // Give the test runner's own work a turn: a long loop must not starve it.
          yield* Effect.promise(() => new Promise<void>((resolve) => setImmediate(resolve)))
        } else {
          yield* client.refresh
        }
        if (cycle === tenth) {
          fibersAtTenth = yield* alive
          heapAtTenth = heap()
          timersAtTenth = yield* timers
        }
      }
      const counters = yield* server.counters
      const { error = 0, ok = 0 } = counters.tokenRequests.client_credentials ?? {}
      const heapGrowth = heap() - heapAtTenth
      const fibers = yield* alive
      const pending = yield* timers
      if (report) {
        process.stdout.write(
          `soak: ${cycles} cycles, ${ok} token requests (${error} failed); ` +
            `heap after full collections ${(heapAtTenth / 1e6).toFixed(1)} MB at cycle ${tenth} -> ` +
            `${((heapAtTenth + heapGrowth) / 1e6).toFixed(1)} MB at ${cycles}; ` +
            `live fibers ${fibersAtTenth} -> ${fibers}; pending timers ${timersAtTenth} -> ${pending}\n`
        )
      }
      assert.strictEqual(error, 0)
      assert.isAtLeast(ok, cycles)
      assert.isAtMost(ok, cycles + 1)
      assert.isAtMost(fibers, fibersAtTenth + 2)
      assert.isAtMost(pending, timersAtTenth + 2)
      // Retained memory (after a full collection) does not grow with the number of cycles.
      assert.isBelow(heapGrowth, 16 * 1024 * 1024)
    }).pipe(
      Effect.withClock(time.clock),
      Effect.provide(Layer.merge(TestServer.layerInMemory({ accessTokenLifetimeSeconds: 10 }), TokenStore.layerMemory))
    )
  }, { timeout: 900_000 })
})
