import type { DeviceAuthorization } from "@effect-oauth/core"
import { Scopes, TokenEndpoint } from "@effect-oauth/core"
import { TestServer } from "@effect-oauth/testing"
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Fiber, Option, Redacted, TestClock } from "effect"
import * as DevicePrompt from "../src/DevicePrompt.js"

describe("DevicePrompt", () => {
  it("instructions name the address, the code and how long it is valid", () => {
    const started: DeviceAuthorization.Started = {
      deviceCode: Redacted.make("secret-device-code"),
      userCode: "ABCD-EFGH",
      verificationUri: "https://example.com/device",
      verificationUriComplete: Option.some("https://example.com/device?user_code=ABCD-EFGH"),
      expiresAt: 600_000,
      interval: Duration.seconds(5),
      scopes: Scopes.empty
    }
    const text = DevicePrompt.instructions(started, 0)
    assert.include(text, "https://example.com/device on any device")
    assert.include(text, "\n    ABCD-EFGH\n")
    assert.include(text, "user_code=ABCD-EFGH")
    assert.include(text, "10 minutes")
    assert.notInclude(text, "secret-device-code")
  })

  it.effect("login prints once, then polls until the user approves (TestClock)", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      const endpoint = yield* TokenEndpoint.make({ provider: server.provider(), client: server.client })
      const printed: Array<string> = []
      const fiber = yield* Effect.fork(DevicePrompt.login(endpoint, {
        scopes: Scopes.make("read"),
        print: (line) => Effect.sync(() => printed.push(line))
      }))
      yield* TestClock.adjust(Duration.seconds(5))
      assert.strictEqual(printed.length, 1)
      const code = /\n {4}(\S+)\n/.exec(printed[0]!)![1]!
      assert.isTrue(yield* server.approveDevice(code))
      yield* TestClock.adjust(Duration.seconds(5))
      const token = yield* Fiber.join(fiber)
      assert.deepStrictEqual(token.scopes.values, ["read"])
      assert.strictEqual(printed.length, 1)
    }).pipe(Effect.provide(TestServer.layerInMemory())))
})
