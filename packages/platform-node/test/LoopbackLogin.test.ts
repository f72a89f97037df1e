import { Scopes } from "@effect-oauth/core"
import { TestServer } from "@effect-oauth/testing"
import { NodeHttpClient } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Exit, Fiber, Layer, Logger, Option, Redacted, TestClock } from "effect"
import * as Net from "node:net"
import { browserCommand, escapeHtml } from "../src/internal/loopbackPage.js"
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

const freePort = Effect.promise(() =>
  new Promise<number>((resolve) => {
    const probe = Net.createServer().listen(0, "127.0.0.1", () => {
      const address = probe.address() as Net.AddressInfo
      probe.close(() => resolve(address.port))
    })
  })
)

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
    // The listener's port, from where the server sends the browser back (a pushed request has no
    // redirect_uri in its URL).
    const approved = new URL(yield* server.authorize(url))
    seen.port = Number(approved.port)
    yield* before(seen.port)
    seen.page = yield* get(tamper(approved).toString())
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

interface RawAnswer {
  readonly status: number | undefined
  readonly text: string
}

/**
 * One HTTP request over a raw socket, which then does `after`: read the answer to the end, close
 * at once, reset at once (RST), or reset as soon as the first byte of the answer arrives.
 */
const raw = (
  port: number,
  target: string,
  options: {
    readonly host?: string | null
    readonly after?: "read" | "close" | "reset" | "resetOnData"
    readonly version?: "1.0" | "1.1"
  } = {}
) =>
  Effect.async<RawAnswer>((resume) => {
    const after = options.after ?? "read"
    const host = options.host === undefined ? `127.0.0.1:${port}` : options.host
    const socket = Net.connect({ host: "127.0.0.1", port })
    let text = ""
    socket.on("data", (chunk: Buffer) => {
      text += chunk.toString("latin1")
      if (after === "resetOnData") socket.resetAndDestroy()
    })
    socket.on("error", () => {})
    socket.once("close", () => {
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(text)
      resume(Effect.succeed({ status: status === null ? undefined : Number(status[1]), text }))
    })
    socket.once("connect", () => {
      socket.write(
        `GET ${target} HTTP/${options.version ?? "1.1"}\r\n` + (host === null ? "" : `Host: ${host}\r\n`) +
          "Connection: close\r\n\r\n"
      )
      if (after === "close") socket.destroy()
      else if (after === "reset") socket.resetAndDestroy()
    })
    return Effect.sync(() => socket.destroy())
  }).pipe(
    Effect.timeoutFail({ duration: Duration.seconds(10), onTimeout: () => new Error("no answer in 10 s") }),
    Effect.orDie
  )

const pathOf = (url: URL) => url.pathname + url.search

/**
 * Plays a browser over raw sockets: `before` runs once the listener is up, then the callback the
 * server redirects to is sent with `send` (by default: read to the end). Resolves `done` with
 * what the callback got.
 */
const rawBrowser = (
  server: TestServer.TestServer.Service,
  seen: Seen & { raw?: RawAnswer },
  send: (port: number, callback: URL) => Effect.Effect<RawAnswer> = (port, callback) => raw(port, pathOf(callback)),
  before: (port: number, callback: URL) => Effect.Effect<void> = () => Effect.void
) =>
(url: string) =>
  Effect.gen(function*() {
    seen.url = url
    seen.port = portOf(url)
    const callback = new URL(yield* server.authorize(url))
    yield* before(seen.port, callback)
    seen.raw = yield* send(seen.port, callback)
  }).pipe(
    Effect.forkDaemon,
    Effect.map((fiber) => {
      seen.browser = fiber
    })
  )

/** Waits for the raw browser to have read its answer. */
const rawOf = (seen: Seen & { raw?: RawAnswer }) => Effect.map(Fiber.join(seen.browser!), () => seen.raw!)

/** A login that ends (either way) within 15 s of real time: a hang fails the test rather than the run. */
const bounded = <A, E, R>(self: Effect.Effect<A, E, R>) =>
  self.pipe(
    Effect.timeoutOption(Duration.seconds(15)),
    Effect.flatMap(Option.match({ onNone: () => Effect.dieMessage("the login hung"), onSome: Effect.succeed }))
  )

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

  it.live("a server that requires pushed requests: the login is pushed, the browser sees only client_id and request_uri", () =>
    Effect.gen(function*() {
      const seen: Seen = {}
      const token = yield* loginWith((server) => browser(server, seen))
      assert.isTrue(Redacted.value(token.accessToken).length > 0)
      assert.deepStrictEqual([...new URL(seen.url!).searchParams.keys()].sort(), ["client_id", "request_uri"])
      const server = yield* TestServer.TestServer
      assert.strictEqual((yield* server.counters).pushedAuthorizationRequests, 1)
      assert.isFalse(yield* listening(seen.port!))
    }).pipe(Effect.provide(Env({ requirePushedAuthorizationRequests: true }))))

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
      assert.strictEqual(error._tag, "@effect-oauth/AuthorizationError")
      if (error._tag === "@effect-oauth/AuthorizationError") assert.strictEqual(error.reason, "Denied")
      yield* pageOf(seen)
      assert.strictEqual(seen.page?.status, 400)
      assert.notInclude(seen.page?.body, "<script>")
      assert.include(seen.page?.body, "&lt;script&gt;")
      assert.strictEqual(seen.page?.headers.get("cache-control"), "no-store")
      assert.strictEqual((yield* server.counters).tokenRequests.authorization_code.ok, 0)
      assert.isFalse(yield* listening(seen.port!))
    }).pipe(Effect.provide(Env({ denyAuthorization: true }))))

  it.live("a tampered state gets a 400 page and no token request; the login goes on to the real callback", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      const seen: Seen & { raw?: RawAnswer } = {}
      const tampered: Array<RawAnswer> = []
      const token = yield* bounded(
        loginWith((server) =>
          rawBrowser(server, seen, undefined, (port, callback) =>
            Effect.gen(function*() {
              const forged = new URL(callback)
              forged.searchParams.set("state", "forged")
              tampered.push(yield* raw(port, pathOf(forged)))
              const counters = (yield* server.counters).tokenRequests.authorization_code
              assert.strictEqual(counters.ok + counters.error, 0, "a token request for a forged state")
            }))
        )
      )
      assert.strictEqual(tampered[0]?.status, 400)
      assert.include(tampered[0]?.text, "Not this sign-in")
      assert.strictEqual((yield* rawOf(seen)).status, 200)
      assert.isTrue(Redacted.value(token.accessToken).length > 0)
      assert.strictEqual((yield* server.counters).tokenRequests.authorization_code.ok, 1)
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
      assert.strictEqual(error._tag, "@effect-oauth/AuthorizationError")
      if (error._tag === "@effect-oauth/AuthorizationError") assert.strictEqual(error.reason, "Timeout")
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
      const free = yield* freePort
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
      assert.strictEqual(refused._tag, "@effect-oauth/ConfigurationError")
    }).pipe(Effect.provide(Env())))

  describe("a browser that goes away after sending the callback", () => {
    for (const after of ["close", "reset", "resetOnData"] as const) {
      it.live(`${after}: the code is exchanged, the login returns the token, the listener closes`, () =>
        Effect.gen(function*() {
          const server = yield* TestServer.TestServer
          // The exchange takes a while, so the browser is gone before the page is written.
          yield* server.configure({ latencyMillis: after === "resetOnData" ? 0 : 100 })
          const seen: Seen & { raw?: RawAnswer } = {}
          const token = yield* bounded(
            loginWith((server) => rawBrowser(server, seen, (port, callback) => raw(port, pathOf(callback), { after })))
          )
          assert.isTrue(Redacted.value(token.accessToken).length > 0)
          assert.strictEqual((yield* server.counters).tokenRequests.authorization_code.ok, 1)
          assert.isFalse(yield* listening(seen.port!))
          const answer = yield* rawOf(seen)
          if (after === "resetOnData") assert.strictEqual(answer.status, 200)
        }).pipe(Effect.provide(Env())))
    }
  })

  it.live("strays on the callback path (no state, a wrong one, two, an error without state) get 400s and are counted", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      const seen: Seen & { raw?: RawAnswer } = {}
      const strays: Array<RawAnswer> = []
      const logs: Array<string> = []
      const token = yield* bounded(
        loginWith((server) =>
          rawBrowser(server, seen, undefined, (port, callback) =>
            Effect.gen(function*() {
              const state = callback.searchParams.get("state")!
              for (
                const query of [
                  "",
                  "?code=abc",
                  "?code=abc&state=wrong",
                  `?code=abc&state=${state}&state=${state}`,
                  "?error=access_denied"
                ]
              ) strays.push(yield* raw(port, `/callback${query}`))
            }))
        ).pipe(
          Effect.provide(Logger.replace(
            Logger.defaultLogger,
            Logger.make(({ annotations, message }) =>
              logs.push(`${String(message)} ${JSON.stringify([...annotations])}`)
            )
          ))
        )
      )
      assert.deepStrictEqual(strays.map((answer) => answer.status), [400, 400, 400, 400, 400])
      for (const answer of strays) assert.include(answer.text, "Not this sign-in")
      assert.strictEqual((yield* rawOf(seen)).status, 200)
      assert.isTrue(Redacted.value(token.accessToken).length > 0)
      const counters = (yield* server.counters).tokenRequests.authorization_code
      assert.deepStrictEqual([counters.ok, counters.error], [1, 0])
      const warnings = logs.filter((line) => line.includes("without the login's state"))
      assert.strictEqual(warnings.length, 5)
      assert.include(warnings[4], "\"strays\",5")
      assert.isFalse(yield* listening(seen.port!))
    }).pipe(Effect.provide(Env())))

  it.live("19 strays do not end a login; the 20th does (StateMismatch, no token request, listener closed)", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      const flood = (count: number) => (port: number) =>
        Effect.forEach(Array.from({ length: count }), () => raw(port, "/callback?code=x&state=y"))
      const seen: Seen & { raw?: RawAnswer } = {}
      yield* bounded(loginWith((server) => rawBrowser(server, seen, undefined, flood(19))))
      assert.strictEqual((yield* rawOf(seen)).status, 200)
      const second: Seen & { raw?: RawAnswer } = {}
      const error = yield* Effect.flip(bounded(loginWith(() => (url) =>
        Effect.gen(function*() {
          second.port = portOf(url)
          const answers = yield* flood(20)(second.port)
          second.raw = answers[19]
        }).pipe(
          Effect.forkDaemon,
          Effect.map((fiber) => {
            second.browser = fiber
          })
        )
      )))
      assert.strictEqual(error._tag, "@effect-oauth/AuthorizationError")
      if (error._tag === "@effect-oauth/AuthorizationError") {
        assert.strictEqual(error.reason, "StateMismatch")
        assert.include(error.description, "20 requests")
      }
      const last = yield* rawOf(second)
      assert.strictEqual(last.status, 400)
      assert.include(last.text, "stopped")
      assert.strictEqual((yield* server.counters).tokenRequests.authorization_code.ok, 1)
      assert.isFalse(yield* listening(second.port!))
    }).pipe(Effect.provide(Env())))

  it.live("resets of half-sent and unsent requests while waiting do not disturb the login", () =>
    Effect.gen(function*() {
      const seen: Seen & { raw?: RawAnswer } = {}
      const token = yield* bounded(
        loginWith((server) =>
          rawBrowser(server, seen, undefined, (port) =>
            Effect.gen(function*() {
              for (let i = 0; i < 5; i++) {
                yield* Effect.async<void>((resume) => {
                  const socket = Net.connect({ host: "127.0.0.1", port })
                  socket.on("error", () => {})
                  socket.once("close", () => resume(Effect.void))
                  socket.once("connect", () => {
                    if (i % 2 === 0) socket.write("GET /callback?code=abc&st")
                    socket.resetAndDestroy()
                  })
                })
              }
            }))
        )
      )
      assert.strictEqual((yield* rawOf(seen)).status, 200)
      assert.isTrue(Redacted.value(token.accessToken).length > 0)
      assert.isFalse(yield* listening(seen.port!))
    }).pipe(Effect.provide(Env())))

  it.live("a Host that does not name the listener gets a 400 and is not a callback (DNS rebinding)", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      const seen: Seen & { raw?: RawAnswer } = {}
      const refused: Array<RawAnswer> = []
      const token = yield* bounded(
        loginWith((server) =>
          rawBrowser(server, seen, undefined, (port, callback) =>
            Effect.gen(function*() {
              // The real callback, code and state included, from pages that are not the listener.
              for (
                const host of [
                  `evil.example:${port}`,
                  "evil.example",
                  `localhost:${port}`,
                  `127.0.0.1:${port + 1}`,
                  "127.0.0.1"
                ]
              ) refused.push(yield* raw(port, pathOf(callback), { host }))
              refused.push(yield* raw(port, pathOf(callback), { host: null, version: "1.0" }))
              refused.push(yield* raw(port, "/favicon.ico", { host: "evil.example" }))
            }))
        )
      )
      assert.deepStrictEqual(refused.map((answer) => answer.status), [400, 400, 400, 400, 400, 400, 400])
      for (const answer of refused) assert.include(answer.text, "Wrong address")
      assert.strictEqual((yield* rawOf(seen)).status, 200)
      assert.isTrue(Redacted.value(token.accessToken).length > 0)
      assert.strictEqual((yield* server.counters).tokenRequests.authorization_code.ok, 1)
    }).pipe(Effect.provide(Env())))

  it.live("a registered localhost redirect URI accepts Host localhost:<port> and 127.0.0.1:<port>", () =>
    Effect.gen(function*() {
      const free = yield* freePort
      const seen: Seen & { raw?: RawAnswer } = {}
      const other: Array<RawAnswer> = []
      yield* bounded(loginWith(
        (server) =>
          rawBrowser(
            server,
            seen,
            (port, callback) => raw(port, pathOf(callback), { host: `LocalHost:${port}` }),
            (port) => Effect.map(raw(port, "/favicon.ico"), (answer) => void other.push(answer))
          ),
        { redirectUri: `http://localhost:${free}/cb` }
      ))
      assert.strictEqual(other[0]?.status, 404)
      assert.strictEqual((yield* rawOf(seen)).status, 200)
    }).pipe(Effect.provide(Env())))

  it("browserCommand: xdg-open with a display, none without; open on macOS; start on Windows", () => {
    assert.isTrue(Option.isNone(browserCommand("linux", {}, "https://a")))
    assert.isTrue(Option.isSome(browserCommand("linux", { DISPLAY: ":0" }, "https://a")))
    assert.isTrue(Option.isSome(browserCommand("linux", { WAYLAND_DISPLAY: "w" }, "https://a")))
    assert.isTrue(Option.isSome(browserCommand("darwin", {}, "https://a")))
    assert.isTrue(Option.isSome(browserCommand("win32", {}, "https://a")))
    assert.strictEqual(
      escapeHtml(`<a href="x">'&'</a>`),
      "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
    )
  })
})
