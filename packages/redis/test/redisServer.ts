/**
 * A real `redis-server` for the tests: started on 127.0.0.1 on a free port, in a temporary
 * directory, without persistence, and stopped (and its directory removed) with the scope. It can be
 * killed and restarted on the same port, paused (SIGSTOP) and resumed, to play the faults of a
 * production Redis.
 */
import { Context, Data, Duration, Effect, Layer, type Scope } from "effect"
import { type ChildProcess, execFile, execFileSync, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"

/** Why a test Redis could not be started. */
export class RedisServerError extends Data.TaggedError("RedisServerError")<{ readonly message: string }> {}

export interface RedisServer {
  readonly port: number
  /** `redis://127.0.0.1:<port>` */
  readonly url: string
  readonly pid: () => number
  /** SIGKILLs the server; its data is gone (no persistence). */
  readonly kill: Effect.Effect<void>
  /** Starts it again on the same port (after `kill`). */
  readonly restart: Effect.Effect<void, RedisServerError>
  /** SIGSTOP: the server keeps its connections and answers nothing. */
  readonly pause: Effect.Effect<void>
  /** SIGCONT after `pause`. */
  readonly resume: Effect.Effect<void>
  /** Runs `redis-cli` against the server and returns its output (raw, no formatting). */
  readonly cli: (...args: ReadonlyArray<string>) => Effect.Effect<string>
}

export class TestRedis extends Context.Tag("test/TestRedis")<TestRedis, RedisServer>() {}

/** Whether `redis-server` can be run on this machine. */
export const available = (() => {
  try {
    execFileSync("redis-server", ["--version"], { stdio: "ignore" })
    return true
  } catch {
    return false
  }
})()

const freePort = Effect.async<number, RedisServerError>((resume) => {
  const server = net.createServer()
  server.once("error", (error) => resume(Effect.fail(new RedisServerError({ message: String(error) }))))
  server.listen(0, "127.0.0.1", () => {
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    server.close(() => resume(Effect.succeed(port)))
  })
})

/** Starts `redis-server` and resolves once it accepts connections (bounded by 10 s). */
const startProcess = (port: number, dir: string, extra: ReadonlyArray<string>) =>
  Effect.async<ChildProcess, RedisServerError>((resume) => {
    const child = spawn("redis-server", [
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--dir",
      dir,
      "--save",
      "",
      "--appendonly",
      "no",
      "--daemonize",
      "no",
      "--loglevel",
      "warning",
      "--enable-debug-command",
      "local",
      ...extra
    ], { stdio: ["ignore", "pipe", "pipe"] })
    let output = ""
    let done = false
    const finish = (effect: Effect.Effect<ChildProcess, RedisServerError>) => {
      if (done) return
      done = true
      clearTimeout(timer)
      clearInterval(poll)
      resume(effect)
    }
    child.stdout!.on("data", (chunk: Buffer) => {
      output += chunk.toString()
    })
    child.stderr!.on("data", (chunk: Buffer) => {
      output += chunk.toString()
    })
    child.once(
      "exit",
      (code) => finish(Effect.fail(new RedisServerError({ message: `redis-server exited (${code}): ${output}` })))
    )
    // Ready once a PING is answered (the log line depends on the log level).
    const poll = setInterval(() => {
      const socket = net.connect(port, "127.0.0.1")
      socket.once("error", () => socket.destroy())
      socket.once("connect", () => socket.write("PING\r\n"))
      socket.once("data", (data) => {
        socket.destroy()
        if (data.toString().startsWith("+PONG") || data.toString().startsWith("-NOAUTH")) {
          finish(Effect.succeed(child))
        }
      })
    }, 20)
    const timer = setTimeout(() => {
      child.kill("SIGKILL")
      finish(Effect.fail(new RedisServerError({ message: `redis-server did not start within 10 s: ${output}` })))
    }, 10_000)
  })

const exited = (child: ChildProcess) =>
  Effect.async<void>((resume) => {
    if (child.exitCode !== null || child.signalCode !== null) return resume(Effect.void)
    child.once("exit", () => resume(Effect.void))
  })

/**
 * A running server for the rest of the scope. `extra` are further `redis-server` arguments (such
 * as `--requirepass`).
 */
export const make = (extra: ReadonlyArray<string> = []): Effect.Effect<RedisServer, RedisServerError, Scope.Scope> =>
  Effect.gen(function*() {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "effect-oauth-redis-"))
    yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true })))
    // A free port can be taken by someone else between the probe and the start: a few tries.
    let port = 0
    let child: ChildProcess | undefined
    for (let attempt = 0; attempt < 5 && child === undefined; attempt++) {
      port = yield* freePort
      child = yield* Effect.option(startProcess(port, dir, extra)).pipe(
        Effect.map((started) => started._tag === "Some" ? started.value : undefined)
      )
    }
    if (child === undefined) return yield* new RedisServerError({ message: "could not start redis-server" })
    let current: ChildProcess = child
    yield* Effect.addFinalizer(() =>
      Effect.suspend(() => {
        current.kill("SIGCONT")
        current.kill("SIGKILL")
        return exited(current)
      }).pipe(Effect.timeout(Duration.seconds(5)), Effect.ignore)
    )
    const kill = Effect.suspend(() => {
      current.kill("SIGCONT")
      current.kill("SIGKILL")
      return exited(current)
    })
    return {
      port,
      url: `redis://127.0.0.1:${port}`,
      pid: () => current.pid ?? 0,
      kill,
      restart: Effect.gen(function*() {
        yield* kill
        current = yield* startProcess(port, dir, extra)
      }),
      pause: Effect.sync(() => {
        current.kill("SIGSTOP")
      }),
      resume: Effect.sync(() => {
        current.kill("SIGCONT")
      }),
      cli: (...args) =>
        Effect.async<string>((resume) => {
          execFile(
            "redis-cli",
            ["-h", "127.0.0.1", "-p", String(port), "--raw", ...args],
            { encoding: "utf8", timeout: 5_000 },
            (error, stdout) => resume(error === null ? Effect.succeed(stdout) : Effect.dieMessage(String(error)))
          )
        })
    } satisfies RedisServer
  })

/** A server per layer build. */
export const layer = (extra: ReadonlyArray<string> = []): Layer.Layer<TestRedis, RedisServerError> =>
  Layer.scoped(TestRedis, make(extra))
