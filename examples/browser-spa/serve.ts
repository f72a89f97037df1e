/**
 * Serves the built app and the embedded authorization server side by side on 127.0.0.1 (two
 * ephemeral ports, so the app calls the server across origins, as a SPA does). Used by `server.ts`
 * (`pnpm --filter @effect-oauth/example-browser-spa dev`) and by the end-to-end tests.
 */
import { TestServer } from "@effect-oauth/testing"
import { ManagedRuntime } from "effect"
import * as Fs from "node:fs"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import { build } from "vite"

const here = Path.dirname(fileURLToPath(import.meta.url))
const dist = Path.join(here, "dist")

/** Builds the app into `dist/` with Vite. */
export const buildApp = () => build({ configFile: Path.join(here, "vite.config.ts"), logLevel: "warn" })

const types: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json"
}

export interface Spa {
  readonly url: string
  readonly server: TestServer.TestServer.Service
  readonly close: () => Promise<void>
}

/** How the app is set up: where it keeps the token (default `"sessionStorage"`). */
export interface AppOptions {
  readonly store?: "sessionStorage" | "localStorage" | undefined
}

/** Starts the authorization server and a static server for `dist/` (which must be built). */
export const startSpa = async (options: TestServer.Options = {}, app: AppOptions = {}): Promise<Spa> => {
  const runtime = ManagedRuntime.make(TestServer.layer(options))
  const server = await runtime.runPromise(TestServer.TestServer)
  const config = JSON.stringify({
    serverUrl: server.url,
    clientId: server.publicClient.clientId,
    store: app.store ?? "sessionStorage"
  })
  const files = Http.createServer((request, response) => {
    const pathname = new URL(request.url ?? "/", "http://127.0.0.1").pathname
    if (pathname === "/config.json") {
      response.writeHead(200, { "content-type": "application/json", "cache-control": "no-store" })
      response.end(config)
      return
    }
    const file = Path.join(dist, Path.normalize(pathname).replace(/^(\.\.[/\\])+/, ""))
    const found = file.startsWith(dist) && Fs.existsSync(file) && Fs.statSync(file).isFile()
    // Any other path (the callback) is the app itself.
    const served = found ? file : Path.join(dist, "index.html")
    response.writeHead(200, { "content-type": types[Path.extname(served)] ?? "application/octet-stream" })
    response.end(Fs.readFileSync(served))
  })
  await new Promise<void>((resolve) => files.listen(0, "127.0.0.1", resolve))
  const url = `http://127.0.0.1:${(files.address() as AddressInfo).port}`
  return {
    url,
    server,
    close: async () => {
      files.closeAllConnections()
      await new Promise<void>((resolve) => files.close(() => resolve()))
      await runtime.dispose()
    }
  }
}
