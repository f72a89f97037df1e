/**
 * A plain `node:http` server on 127.0.0.1 for the tests that need a real socket with a handler of
 * their own (a redirect, a gzip bomb, a server that records the headers it got), closed with the
 * test's scope.
 */
import { Effect } from "effect"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"

/** Listens on 127.0.0.1, port 0; the scope closes every connection and the server. Yields the origin. */
export const serve = (handler: Http.RequestListener) =>
  Effect.acquireRelease(
    Effect.async<Http.Server>((resume) => {
      const server = Http.createServer(handler)
      server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
    }),
    (server) =>
      Effect.async<void>((resume) => {
        server.closeAllConnections()
        server.close(() => resume(Effect.void))
      })
  ).pipe(Effect.map((server) => `http://127.0.0.1:${(server.address() as AddressInfo).port}`))

/** What a recording server saw of one request. */
export interface Seen {
  readonly path: string
  readonly authorization: string | undefined
}

/** A server that answers `{}` (or what `respond` writes) and records every request's path and `Authorization`. */
export const recording = (respond?: (req: Http.IncomingMessage, res: Http.ServerResponse) => void) =>
  Effect.gen(function*() {
    const seen: Array<Seen> = []
    const url = yield* serve((req, res) => {
      seen.push({ path: req.url ?? "", authorization: req.headers.authorization })
      if (respond !== undefined) return respond(req, res)
      res.writeHead(200, { "content-type": "application/json" })
      res.end("{}")
    })
    return { url, seen }
  })
