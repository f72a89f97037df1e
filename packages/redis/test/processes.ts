/**
 * Child Node processes for the fleet tests (and the fleet benchmark): a TypeScript entry bundled
 * once with esbuild (a dependency of tsx; a child starts in a fifth of the time that loading the
 * sources through tsx takes), else run through tsx. A child speaks JSON lines on stdout; every child
 * is SIGKILLed when its scope closes.
 */
import { Data, Deferred, Duration, Effect, type Scope } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as http from "node:http"
import { createRequire } from "node:module"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const repoRoot = fileURLToPath(new URL("../../../", import.meta.url))
const tsconfig = path.join(repoRoot, "tsconfig.json")

/** A child that exited or went silent before saying what the parent waited for. */
export class ChildError extends Data.TaggedError("ChildError")<{ readonly message: string }> {}

/** How to run `entry`: the path of a bundle of it, or undefined to run it through tsx. */
export const bundle = (entry: string): Effect.Effect<string | undefined, never, Scope.Scope> =>
  Effect.gen(function*() {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "effect-oauth-fleet-"))
    yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true })))
    const outfile = path.join(dir, "child.mjs")
    return yield* Effect.tryPromise(async () => {
      const esbuild = createRequire(createRequire(import.meta.url).resolve("tsx"))("esbuild") as {
        build: (options: Record<string, unknown>) => Promise<unknown>
      }
      await esbuild.build({
        entryPoints: [entry],
        bundle: true,
        platform: "node",
        format: "esm",
        outfile,
        tsconfig,
        // CommonJS dependencies (ioredis, undici) require Node's built-ins: give the bundle a `require`.
        banner: { js: "import { createRequire as __cr } from \"node:module\"; const require = __cr(import.meta.url);" },
        logLevel: "silent"
      })
      return outfile
    }).pipe(
      Effect.catchAll((error) =>
        Effect.sync(() => {
          process.stderr.write(`bundling ${entry} failed, running it through tsx: ${String(error)}\n`)
          return undefined
        })
      )
    )
  })

export interface Child {
  readonly process: ChildProcess
  /** Every JSON line the child printed so far. */
  readonly messages: Array<Record<string, unknown>>
  /** Resolves with the first message whose `event` is `event`, bounded by `timeout`. */
  readonly waitFor: (
    event: string,
    timeout?: Duration.DurationInput
  ) => Effect.Effect<Record<string, unknown>, ChildError>
  readonly stderr: () => string
  /** The lines of stdout that are not messages (the child's logs). */
  readonly logs: Array<string>
  /** Resolves when the child has exited. */
  readonly exited: Effect.Effect<void>
}

/** Starts `entry` (or its bundle) with `args`; SIGKILLed with the scope if still running. */
export const start = (
  entry: string,
  bundled: string | undefined,
  args: ReadonlyArray<string>
): Effect.Effect<Child, never, Scope.Scope> =>
  Effect.gen(function*() {
    const child = yield* Effect.acquireRelease(
      Effect.sync(() =>
        spawn(process.execPath, bundled !== undefined ? [bundled, ...args] : ["--import", "tsx", entry, ...args], {
          cwd: repoRoot,
          env: { ...process.env, TSX_TSCONFIG_PATH: tsconfig },
          stdio: ["ignore", "pipe", "pipe"]
        })
      ),
      (child) =>
        Effect.sync(() => {
          if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
        })
    )
    const messages: Array<Record<string, unknown>> = []
    const logs: Array<string> = []
    const listeners = new Set<() => void>()
    let out = ""
    let err = ""
    child.stdout!.on("data", (chunk: Buffer) => {
      out += chunk.toString()
      const lines = out.split("\n")
      out = lines.pop() ?? ""
      for (const line of lines) {
        try {
          messages.push(JSON.parse(line))
        } catch {
          logs.push(line)
        }
      }
      for (const listener of listeners) listener()
    })
    child.stderr!.on("data", (chunk: Buffer) => {
      err += chunk.toString()
    })
    const exitedDeferred = yield* Deferred.make<void>()
    child.once("exit", () => {
      Deferred.unsafeDone(exitedDeferred, Effect.void)
      for (const listener of listeners) listener()
    })
    const waitFor = (event: string, timeout: Duration.DurationInput = Duration.seconds(30)) =>
      Effect.async<Record<string, unknown>, ChildError>((resume) => {
        const check = () => {
          const found = messages.find((message) => message.event === event)
          if (found !== undefined) {
            listeners.delete(check)
            resume(Effect.succeed(found))
          } else if (child.exitCode !== null || child.signalCode !== null) {
            listeners.delete(check)
            resume(Effect.fail(
              new ChildError({
                message: `child exited (${child.exitCode ?? child.signalCode}) before "${event}": ${err.slice(-2000)}`
              })
            ))
          }
        }
        listeners.add(check)
        check()
        return Effect.sync(() => listeners.delete(check))
      }).pipe(
        Effect.timeoutFail({
          duration: timeout,
          onTimeout: () => new ChildError({ message: `no "${event}" from the child: ${err.slice(-2000)}` })
        })
      )
    return { process: child, messages, waitFor, stderr: () => err, logs, exited: Deferred.await(exitedDeferred) }
  })

/** A resource server of our own that answers 200 to every request and records when each arrived. */
export interface RecordingApi {
  readonly url: string
  /** Arrival times (ms, one clock for every child) of the requests so far. */
  readonly arrivals: ReadonlyArray<number>
}

export const recordingApi: Effect.Effect<RecordingApi, never, Scope.Scope> = Effect.gen(function*() {
  const arrivals: Array<number> = []
  const server = http.createServer((request, response) => {
    arrivals.push(performance.timeOrigin + performance.now())
    request.resume()
    response.writeHead(200, { "content-type": "application/json" })
    response.end("{}")
  })
  yield* Effect.acquireRelease(
    Effect.async<void>((resume) => {
      server.listen(0, "127.0.0.1", () => resume(Effect.void))
    }),
    () =>
      Effect.async<void>((resume) => {
        server.closeAllConnections()
        server.close(() => resume(Effect.void))
      })
  )
  const address = server.address()
  const port = typeof address === "object" && address !== null ? address.port : 0
  return { url: `http://127.0.0.1:${port}`, arrivals }
})

/** The most arrivals in any closed window of `millis` (both ends included: the strictest reading). */
export const busiestWindow = (arrivals: ReadonlyArray<number>, millis: number): number => {
  const sorted = [...arrivals].sort((a, b) => a - b)
  let most = 0
  let first = 0
  for (let last = 0; last < sorted.length; last++) {
    while (sorted[last]! - sorted[first]! > millis) first++
    most = Math.max(most, last - first + 1)
  }
  return most
}
