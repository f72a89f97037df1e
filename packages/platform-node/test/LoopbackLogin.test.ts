import { Scopes } from "@effect-oauth/core"
import { TestServer } from "@effect-oauth/testing"
import { NodeHttpClient } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Exit, Fiber, Layer, Option, Redacted, TestClock } from "effect"
import * as Net from "node:net"
import * as LoopbackLogin from "../src/LoopbackLogin.js"

const Env = (options?: TestServer.Options) => Layer.merge(TestServer.layer(options), NodeHttpClient.layerUndici)

/** Whether something still listens on 127.0.0.1:port. */
const listening = (port: number) =>
  Effect.async<boolean>((resume) => {
    const socket = Net.connect({ host: "127.0.0.1", port })
    socket.once("connect", () => {
      socket.destroy()
      resume(Effect.succeed(true))
    })
    socket.once("error", () => resume(Effect.succeed(false)))
  })

const portOf = (authorizationUrl: string) =>
  Number(new URL(new URL(authorizationUrl).searchParams.get("redirect_uri")!).port)

const get = (url: string, init?: RequestInit) =>
  Effect.promise(async () => {
    const response = await fetch(url, init)
    return { status: response.status, headers: response.headers, body: await response.text() }
  })

interface Seen {
  url?: string
  port?: number
  page?: { status: number; headers: Headers; body: string }
  browser?: Fiber.RuntimeFiber<void>
}

/** Waits for the simulated browser to have read the page. */
const pageOf = (seen: Seen) => Effect.map(Fiber.join(seen.browser!), () => seen.page!)

/** Plays the browser: asks the server, then follows the redirect to the loopback listener. */
const browser = (
  server: TestServer.TestServer.Service,
  seen: Seen,
  tamper: (callback: URL) => URL = (u) => u,
  before: (port: number) => Effect.Effect<void> = () => Effect.void
) =>
(url: string) =>
  Effect.gen(function*() {
    seen.url = url
    seen.port = portOf(url)
    yield* before(seen.port)
    const callback = tamper(new URL(yield* server.authorize(url)))
    seen.page = yield* get(callback.toString())
  }).pipe(
    Effect.forkDaemon,
    Effect.map((fiber) => {
      seen.browser = fiber
    })
  )

const loginWith = (
  openBrowser: (server: TestServer.TestServer.Service) => (url: string) => Effect.Effect<void>,
  options: Partial<LoopbackLogin.Options> = {}
) =>
  Effect.flatMap(TestServer.TestServer, (server) =>
    LoopbackLogin.login({
      provider: server.provider(),
      client: server.client,
      scopes: Scopes.make("read"),
      openBrowser: openBrowser(server),
      ...options
    }))

describe("LoopbackLogin", () => {
  it.live("a login: the callback is exchanged, the page is served, the listener is closed", () =>
    Effect.gen(function*() {
      const seen: Seen = {}
      const token = yield* loginWith((server) => browser(server, seen))
      assert.deepStrictEqual(token.scopes.values, ["read"])
      assert.isTrue(Redacted.value(token.accessToken).length > 0)
      const page = yield* pageOf(seen)
      assert.strictEqual(page.status, 200)
      assert.include(page.body, "Signed in")
      assert.strictEqual(seen.page?.headers.get("cache-control"), "no-store")
      assert.strictEqual(seen.page?.headers.get("referrer-policy"), "no-referrer")
      const url = new URL(seen.url!)
      assert.strictEqual(url.searchParams.get("code_challenge_method"), "S256")
      assert.match(url.searchParams.get("redirect_uri")!, /^http:\/\/127\.0\.0\.1:\d+\/callback$/)
      assert.isFalse(yield* listening(seen.port!))
    }).pipe(Effect.provide(Env())))

  it.live("other paths get a 404 and the listener keeps waiting; an oversized request is refused", () =>
    Effect.gen(function*() {
      const seen: Seen = {}
      const others: Array<number> = []
      const token = yield* loginWith((server) =>
        browser(server, seen, (u) => u, (port) =>
          Effect.gen(function*() {
            others.push((yield* get(`http://127.0.0.1:${port}/favicon.ico`)).status)
            others.push((yield* get(`http://127.0.0.1:${port}/callback?${"x".repeat(20_000)}=1`)).status)
            others.push((yield* get(`http://127.0.0.1:${port}/callback`, { method: "POST", body: "a" })).status)
          }))
      )
      assert.deepStrictEqual(others, [404, 431, 405])
      assert.isTrue(Redacted.value(token.accessToken).length > 0)
      assert.isFalse(yield* listening(seen.port!))
    }).pipe(Effect.provide(Env())))

  it.live("a denied authorization: a typed error, an escaped error page, no token request, listener closed", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      const seen: Seen = {}
      const error = yield* Effect.flip(loginWith((server) =>
        browser(server, seen, (u) => {
          u.searchParams.set("error_description", "<script>alert(1)</script>")
          return u
        })
      ))
      assert.strictEqual(error._tag, "AuthorizationResponseError")
      if (error._tag === "AuthorizationResponseError") assert.strictEqual(error.reason, "Denied")
      yield* pageOf(seen)
      assert.strictEqual(seen.page?.status, 400)
      assert.notInclude(seen.page?.body, "<script>")
      assert.include(seen.page?.body, "&lt;script&gt;")
      assert.strictEqual(seen.page?.headers.get("cache-control"), "no-store")
      assert.strictEqual((yield* server.counters).tokenRequests.authorization_code.ok, 0)
      assert.isFalse(yield* listening(seen.port!))
    }).pipe(Effect.provide(Env({ denyAuthorization: true }))))

  it.live("a tampered state is rejected before any token request", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      const seen: Seen = {}
      const error = yield* Effect.flip(loginWith((server) =>
        browser(server, seen, (u) => {
          u.searchParams.set("state", "forged")
          return u
        })
      ))
      assert.strictEqual(error._tag, "AuthorizationResponseError")
      if (error._tag === "AuthorizationResponseError") assert.strictEqual(error.reason, "StateMismatch")
      const counters = (yield* server.counters).tokenRequests.authorization_code
      assert.strictEqual(counters.ok + counters.error, 0)
      assert.isFalse(yield* listening(seen.port!))
    }).pipe(Effect.provide(Env())))

  it.scoped("no callback: a Timeout after the configured wait (TestClock), listener closed", () =>
    Effect.gen(function*() {
      const seen: Seen = {}
      const fiber = yield* Effect.fork(Effect.flip(loginWith(() => (url) =>
        Effect.sync(() => {
          seen.port = portOf(url)
        }), { timeout: Duration.minutes(2) })))
      yield* Effect.yieldNow()
      yield* TestClock.adjust(Duration.minutes(2))
      const error = yield* Fiber.join(fiber)
      assert.strictEqual(error._tag, "AuthorizationResponseError")
      if (error._tag === "AuthorizationResponseError") assert.strictEqual(error.reason, "Timeout")
      assert.isFalse(yield* listening(seen.port!))
    }).pipe(Effect.provide(Env())))

  it.live("interruption closes the listener", () =>
    Effect.gen(function*() {
      const seen: Seen = {}
      const fiber = yield* Effect.fork(loginWith(() => (url) =>
        Effect.sync(() => {
          seen.port = portOf(url)
        })
      ))
      for (let i = 0; i < 200 && seen.port === undefined; i++) yield* Effect.sleep(Duration.millis(5))
      assert.isTrue(yield* listening(seen.port!))
      const exit = yield* Fiber.interrupt(fiber)
      assert.isTrue(Exit.isInterrupted(exit))
      assert.isFalse(yield* listening(seen.port!))
    }).pipe(Effect.provide(Env())))

  it.live("a registered redirect URI's port and path are used", () =>
    Effect.gen(function*() {
      const free = yield* Effect.promise(() =>
        new Promise<number>((resolve) => {
          const probe = Net.createServer().listen(0, "127.0.0.1", () => {
            const address = probe.address() as Net.AddressInfo
            probe.close(() => resolve(address.port))
          })
        })
      )
      const seen: Seen = {}
      const redirectUri = `http://127.0.0.1:${free}/oauth/done`
      yield* loginWith((server) => browser(server, seen), { redirectUri })
      assert.strictEqual(new URL(seen.url!).searchParams.get("redirect_uri"), redirectUri)
      assert.strictEqual(seen.port, free)
      assert.strictEqual((yield* pageOf(seen)).status, 200)
    }).pipe(Effect.provide(Env())))

  it.live("openBrowser false prints the URL; a non-loopback redirect URI is refused before listening", () =>
    Effect.gen(function*() {
      const printed: Array<string> = []
      const fiber = yield* Effect.fork(Effect.flatMap(TestServer.TestServer, (server) =>
        LoopbackLogin.login({
          provider: server.provider(),
          client: server.client,
          openBrowser: false,
          print: (line) => Effect.sync(() => printed.push(line))
        })))
      for (let i = 0; i < 200 && printed.length === 0; i++) yield* Effect.sleep(Duration.millis(5))
      yield* Fiber.interrupt(fiber)
      assert.strictEqual(printed.length, 1)
      assert.include(printed[0], "/authorize?")
      const refused = yield* Effect.flip(
        loginWith(() => () => Effect.void, { redirectUri: "https://example.com/callback" })
      )
      assert.strictEqual(refused._tag, "InvalidConfiguration")
    }).pipe(Effect.provide(Env())))

  it("browserCommand: xdg-open with a display, none without; open on macOS; start on Windows", () => {
    assert.isTrue(Option.isNone(LoopbackLogin.browserCommand("linux", {}, "https://a")))
    assert.isTrue(Option.isSome(LoopbackLogin.browserCommand("linux", { DISPLAY: ":0" }, "https://a")))
    assert.isTrue(Option.isSome(LoopbackLogin.browserCommand("linux", { WAYLAND_DISPLAY: "w" }, "https://a")))
    assert.isTrue(Option.isSome(LoopbackLogin.browserCommand("darwin", {}, "https://a")))
    assert.isTrue(Option.isSome(LoopbackLogin.browserCommand("win32", {}, "https://a")))
    assert.strictEqual(
      LoopbackLogin.escapeHtml(`<a href="x">'&'</a>`),
      "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
    )
  })
})
