import { AuthorizedHttpClient, ClientConfig, Scopes } from "@effect-oauth/core"
import { NodeOAuth } from "@effect-oauth/platform-node"
import { TestServer } from "@effect-oauth/testing"
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, Option, Redacted } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll } from "vitest"
import { httpClientLayerContract } from "../../core/test/HttpClientLayerContract.js"

httpClientLayerContract("NodeOAuth.layerHttpClient", NodeOAuth.layerHttpClient)

describe("NodeOAuth.layer", () => {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), "effect-oauth-nodeoauth-"))
  afterAll(() => fs.rmSync(directory, { recursive: true, force: true }))

  /** Plays the browser: the server approves, and the callback goes to the loopback listener. */
  const browser = (server: TestServer.TestServer.Service, opened: Array<string>) => (url: string) =>
    Effect.gen(function*() {
      opened.push(url)
      const callback = yield* server.authorize(url)
      yield* Effect.promise(() => fetch(callback).then((response) => response.text()))
    }).pipe(Effect.forkDaemon, Effect.asVoid)

  const app = (server: TestServer.TestServer.Service, opened: Array<string>, dir: string) =>
    NodeOAuth.layer({
      provider: server.provider(),
      client: server.client,
      scopes: Scopes.make("read"),
      directory: dir,
      openBrowser: browser(server, opened),
      print: () => Effect.void
    })

  const callMe = Effect.gen(function*() {
    const server = yield* TestServer.TestServer
    const http = yield* AuthorizedHttpClient.AuthorizedHttpClient
    const response = yield* http.get(server.meEndpoint)
    return response.status
  })

  it.live("the first run signs in through the browser; a second run over the same directory does not", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      const opened: Array<string> = []
      const dir = path.join(directory, "twice")
      const first = yield* Effect.zipRight(NodeOAuth.login, callMe).pipe(
        Effect.provide(app(server, opened, dir))
      )
      assert.strictEqual(first, 200)
      assert.strictEqual(opened.length, 1)
      const files = fs.readdirSync(dir)
      assert.strictEqual(files.length, 1)
      assert.strictEqual(fs.statSync(path.join(dir, files[0]!)).mode & 0o777, 0o600)
      const second = yield* Effect.zipRight(NodeOAuth.login, callMe).pipe(
        Effect.provide(app(server, opened, dir))
      )
      assert.strictEqual(second, 200)
      assert.strictEqual(opened.length, 1, "the stored token is used: no second login")
      assert.strictEqual((yield* server.counters).tokenRequests.authorization_code.ok, 1)
    }).pipe(Effect.provide(TestServer.layer())))

  it.live("a stored token without a scope now asked for signs in again; one that holds them is used", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      const opened: Array<string> = []
      const dir = path.join(directory, "scope-added")
      const loginWith = (scopes: Scopes.ScopeSet<string>) =>
        NodeOAuth.login.pipe(
          Effect.provide(NodeOAuth.layer({
            provider: server.provider(),
            client: server.client,
            scopes,
            directory: dir,
            openBrowser: browser(server, opened),
            print: () => Effect.void
          }))
        )
      const first = yield* loginWith(Scopes.make("read"))
      assert.deepStrictEqual(first.scopes.values, ["read"])
      // The application now asks for write too: the stored token cannot have it.
      const second = yield* loginWith(Scopes.make("read", "write"))
      assert.strictEqual(opened.length, 2, "a new authorization for the added scope")
      assert.include(new URL(opened[1]!).searchParams.get("scope")!, "write")
      assert.deepStrictEqual(second.scopes.values, ["read", "write"])
      // A request the stored token holds is answered from the store.
      const third = yield* loginWith(Scopes.make("write"))
      assert.strictEqual(opened.length, 2, "the stored token holds write: no login")
      assert.strictEqual(Redacted.value(third.accessToken), Redacted.value(second.accessToken))
      assert.strictEqual((yield* server.counters).tokenRequests.authorization_code.ok, 2)
    }).pipe(Effect.provide(TestServer.layer())))

  it.live("loginWithDevice prints the code and waits for the approval", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      const printed: Array<string> = []
      const layer = NodeOAuth.layer({
        provider: server.provider(),
        client: server.client,
        directory: path.join(directory, "device"),
        print: (line) =>
          Effect.gen(function*() {
            printed.push(line)
            const code = /\n {4}(\S+)\n/.exec(line)
            if (code !== null) yield* server.approveDevice(code[1]!)
          })
      })
      const status = yield* Effect.zipRight(NodeOAuth.loginWithDevice, callMe).pipe(Effect.provide(layer))
      assert.strictEqual(status, 200)
      assert.strictEqual(printed.length, 1)
      assert.include(printed[0], "/device")
    }).pipe(Effect.provide(TestServer.layer({ deviceCodeIntervalSeconds: 1 }))))

  it.live("layerConfig reads the client from configuration", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      const opened: Array<string> = []
      const layer = NodeOAuth.layerConfig({
        provider: server.provider(),
        client: ClientConfig.config("APP"),
        directory: path.join(directory, "config"),
        openBrowser: browser(server, opened),
        print: () => Effect.void
      })
      const secret = Redacted.value(Option.getOrThrow(server.client.clientSecret))
      const status = yield* Effect.zipRight(NodeOAuth.login, callMe).pipe(
        Effect.provide(layer),
        Effect.withConfigProvider(
          ConfigProvider.fromMap(new Map([["APP_CLIENT_ID", server.client.clientId], ["APP_CLIENT_SECRET", secret]]))
        )
      )
      assert.strictEqual(status, 200)
      assert.strictEqual(opened.length, 1)
    }).pipe(Effect.provide(TestServer.layer())))
})
