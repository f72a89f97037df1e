/**
 * A stand-in for the user's browser, for runs against the embedded test server: the server
 * approves the authorization request and redirects, and the redirect is followed to the loopback
 * listener of the login, over real HTTP.
 */
import type { TestServer } from "@effect-oauth/testing"
import { Console, Effect } from "effect"

export const simulatedBrowser = (server: TestServer.TestServer.Service) => (url: string): Effect.Effect<void> =>
  Effect.gen(function*() {
    yield* Console.log(
      `   (the browser opens ${new URL(url).origin}${new URL(url).pathname}; the test server approves)`
    )
    const callback = yield* server.authorize(url)
    yield* Effect.promise(() => fetch(callback).then((response) => response.text()))
  }).pipe(Effect.forkDaemon, Effect.asVoid)
