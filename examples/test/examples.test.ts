/**
 * Every example runs offline: started as its own process with no credentials in the environment,
 * it says in its first line that it uses the embedded test server, exits 0, and prints no token.
 */
import { execFile } from "node:child_process"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import { assert, describe, it } from "vitest"

const examples = Path.join(Path.dirname(fileURLToPath(import.meta.url)), "..")

// Asynchronous, so the test worker keeps answering the runner while an example runs.
const run = (name: string) => {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([key]) => !/_CLIENT_(ID|SECRET)$/.test(key) && key !== "OSU_REDIRECT_URI")
  )
  return new Promise<{ readonly status: number | null; readonly stdout: string; readonly stderr: string }>(
    (resolve) => {
      execFile(
        process.execPath,
        ["--import", "tsx", `src/${name}.ts`],
        {
          cwd: examples,
          env: { ...env, TSX_TSCONFIG_PATH: Path.join(examples, "..", "tsconfig.json") },
          encoding: "utf8",
          timeout: 60_000
        },
        (error, stdout, stderr) =>
          resolve({ status: error === null ? 0 : typeof error.code === "number" ? error.code : null, stdout, stderr })
      )
    }
  )
}

const cases: ReadonlyArray<readonly [string, RegExp, ReadonlyArray<RegExp>]> = [
  ["osu-client-credentials", /configured as osu!/, [/GET \/users\/2 -> 200/, /GET \/beatmaps\/129891 -> 200/]],
  ["osu-login", /configured as osu!/, [/A second run: the stored token is used/, /GET \/me -> 200/]],
  ["osu-chat-bot", /configured as osu!/, [/POST \/chat\/new -> 200 .*hello from effect-oauth/]],
  ["spotify-search", /configured as Spotify/, [/-> 200, 1 tracks/, /Test Track — Test Artist/]],
  ["manual-composition", /configured as osu!/, [/user 2: /, /user 3: /]],
  ["multi-user-server", /configured as osu!/, [
    /GET \/callback -> 200 signed in as alice/,
    /GET \/callback -> 200 signed in as bob/,
    /a replay\) finds no login.*\n.*GET \/callback -> 400 unknown or expired login/,
    /holds 2 users' slots/,
    // One user signs out; the other keeps calling the API.
    /POST \/logout\?user=alice -> 200[\s\S]*GET \/me\?user=alice -> 401 not signed in[\s\S]*GET \/me\?user=bob -> 200 \{"id":1/,
    /2 code exchanges, 1 revocation, 3 API calls answered 200/
  ]],
  // Each server accepts only the tokens it issued: a 200 from each is each token at its own server.
  ["osu-and-spotify", /two embedded test servers/, [
    /osu!: +GET \/api\/v2\/users\/2 -> 200 \{"id":2/,
    /Spotify: GET \/v1\/me -> 200 \{"id":"test-user"/,
    /osu! client asked for the Spotify API -> @effect-oauth\/UntrustedOrigin \(NotTrusted\), nothing sent/,
    /The osu! server: 1 token request\(s\), API calls by status \{"200":1\}/,
    /The Spotify server: 0 token request\(s\), API calls by status \{"200":1\}/
  ]],
  ["oidc-sign-in", /signing in at the embedded test server/, [
    /Discovered http:\/\/127\.0\.0\.1:\d+: keys at .*\/jwks, userinfo at .*\/userinfo/,
    /ID token checked: iss http:\/\/127\.0\.0\.1:\d+, sub 1, aud test-client/,
    /userinfo: sub 1, Test User <test-user@example\.com>/,
    // The second run opens no browser: the stored token, with its checked ID token.
    /A second run: the stored token is used, no browser\n(?!.*the browser opens).*ID token checked/,
    /Done\./
  ]],
  ["demo", /embedded authorization server/, [/did not sign in/, /Done\./]]
]

describe("examples", () => {
  for (const [name, first, expected] of cases) {
    it(`${name} runs offline against the test server and says so first`, async () => {
      const result = await run(name)
      assert.strictEqual(result.status, 0, `${name} exited ${result.status}: ${result.stderr}`)
      const lines = result.stdout.split("\n").filter((line) => line.trim().length > 0)
      assert.match(lines[0] ?? "", first)
      for (const pattern of expected) assert.match(result.stdout, pattern)
      // Tokens are printed redacted, or not at all: the test server's tokens are long base64url strings.
      assert.notMatch(result.stdout, /[A-Za-z0-9_-]{40,}/)
    }, 90_000)
  }
})
