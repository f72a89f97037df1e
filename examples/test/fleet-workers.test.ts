/**
 * The fleet example runs offline: it starts its own redis-server (or, on a machine without one,
 * says how to install it) and two worker processes against the embedded test server.
 */
import { execFileSync, spawnSync } from "node:child_process"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import { assert, describe, it } from "vitest"

const examples = Path.join(Path.dirname(fileURLToPath(import.meta.url)), "..")

const redisInstalled = (() => {
  try {
    execFileSync("redis-server", ["--version"], { stdio: "ignore" })
    return true
  } catch {
    return false
  }
})()

describe("fleet-workers", () => {
  it("two workers share one token and the rate limit through a throwaway Redis, offline", () => {
    const env = Object.fromEntries(
      Object.entries(process.env).filter(([key]) => !/_CLIENT_(ID|SECRET)$/.test(key) && key !== "REDIS_URL")
    )
    const result = spawnSync(process.execPath, ["--import", "tsx", "src/fleet-workers.ts"], {
      cwd: examples,
      env: { ...env, TSX_TSCONFIG_PATH: Path.join(examples, "..", "tsconfig.json") },
      encoding: "utf8",
      timeout: 80_000
    })
    assert.strictEqual(result.status, 0, `exited ${result.status}: ${result.stderr}`)
    const lines = result.stdout.split("\n").filter((line) => line.trim().length > 0)
    if (!redisInstalled) {
      assert.match(lines[0] ?? "", /no redis-server on this machine: install Redis/)
      return
    }
    assert.match(lines[0] ?? "", /started a throwaway redis-server at redis:\/\/127\.0\.0\.1:\d+/)
    assert.match(lines[1] ?? "", /configured as osu!/)
    for (const name of ["worker 1", "worker 2"]) {
      for (const id of [2, 3]) assert.include(result.stdout, `${name}: GET /users/${id} -> 200`)
    }
    assert.match(result.stdout, /Token requests the server saw: 1, for both workers/)
    assert.notMatch(result.stdout, /[A-Za-z0-9_-]{40,}/)
  }, 90_000)
})
