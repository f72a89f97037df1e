/**
 * The 1 MiB body cap against a real gzip bomb on a real socket (BEHAVIOUR.md §2): the cap counts
 * the bytes the HTTP client hands over as they stream — decoded, for a client that decodes
 * `Content-Encoding` — whatever `Content-Length` says, on every reader.
 */
import {
  ClientConfig,
  DeviceAuthorization,
  Discovery,
  Grant,
  Provider,
  Scopes,
  TokenEndpoint
} from "@effect-oauth/core"
import type { HttpClient } from "@effect/platform"
import { FetchHttpClient } from "@effect/platform"
import { NodeHttpClient } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import type { Layer } from "effect"
import { Effect, Redacted } from "effect"
import * as Zlib from "node:zlib"
import { serve } from "./LoopbackServer.js"

const MiB = 1024 * 1024
// One gzip member of 8 MiB of spaces is about 8 KiB; members concatenated are one valid gzip body.
const member = Zlib.gzipSync(Buffer.alloc(8 * MiB, 32), { level: 9 })

/** About 300 KiB on the wire, about 300 MiB decoded, sent with its compressed Content-Length. */
const bomb = Buffer.concat(Array.from({ length: Math.floor((300 * 1024) / member.length) }, () => member))

const gzipBomb = serve((_, res) => {
  res.writeHead(200, {
    "content-type": "application/json",
    "content-encoding": "gzip",
    "content-length": String(bomb.length)
  })
  res.end(bomb)
})

/** The same members, streamed without a length until the client stops reading, at most `limit` of them. */
const streamedBomb = (written: { members: number }, limit: number) =>
  serve((_, res) => {
    res.writeHead(200, { "content-type": "application/json", "content-encoding": "gzip" })
    const pump = () => {
      while (written.members < limit) {
        written.members++
        if (!res.write(member)) return void res.once("drain", pump)
      }
      res.end()
    }
    pump()
  })

/** The largest growth of heap and external memory while `effect` runs, sampled every 2 ms. */
const peakGrowth = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.suspend(() => {
    const used = () => process.memoryUsage().heapUsed + process.memoryUsage().external
    const base = used()
    let peak = 0
    const sample = () => void (peak = Math.max(peak, used() - base))
    return Effect.acquireUseRelease(
      Effect.sync(() => setInterval(sample, 2)),
      () => Effect.map(effect, (result) => (sample(), { result, growth: peak })),
      (timer) => Effect.sync(() => clearInterval(timer))
    )
  })

const client = ClientConfig.make({ clientId: "bomb-test", clientSecret: Redacted.make("bomb-secret") })

const endpointAt = (url: string) =>
  TokenEndpoint.make({
    provider: Provider.make({
      tokenEndpoint: `${url}/token`,
      revocationEndpoint: `${url}/revoke`,
      deviceAuthorizationEndpoint: `${url}/device`
    }),
    client,
    maxAttempts: 1
  })

/** Every reader of the library, each returning the reason it failed with (or `ok`). */
const readers: ReadonlyArray<
  readonly [string, (url: string) => Effect.Effect<string, never, HttpClient.HttpClient>]
> = [
  [
    "token",
    (url) =>
      Effect.flatMap(endpointAt(url), (endpoint) => endpoint.request(Grant.ClientCredentials(Scopes.make()))).pipe(
        Effect.match({
          onFailure: (e) => e.reason === "InvalidResponse" ? e.kind ?? "" : e._tag,
          onSuccess: () => "ok"
        })
      )
  ],
  ["revocation", (url) =>
    Effect.flatMap(endpointAt(url), (endpoint) => endpoint.revoke(Redacted.make("a-token"))).pipe(
      Effect.match({ onFailure: (e) => e.reason === "InvalidResponse" ? e.kind ?? "" : e._tag, onSuccess: () => "ok" })
    )],
  [
    "device authorization",
    (url) =>
      Effect.flatMap(endpointAt(url), (endpoint) => DeviceAuthorization.start(endpoint)).pipe(
        Effect.match({
          onFailure: (e) => e.reason === "InvalidResponse" ? e.kind ?? "" : e._tag,
          onSuccess: () => "ok"
        })
      )
  ],
  ["discovery", (url) =>
    Discovery.discover(url, { attemptTimeout: "10 seconds" }).pipe(
      // Discovery sums up what each metadata URL gave; the reason of each is in the detail.
      Effect.match({
        onFailure: (e) =>
          e._tag === "@effect-oauth/ConfigurationError" ? (/\((\w+)\)/.exec(e.detail)?.[1] ?? e.detail) : e._tag,
        onSuccess: () => "ok"
      })
    )]
]

const clients: ReadonlyArray<readonly [string, Layer.Layer<HttpClient.HttpClient>, string]> = [
  // fetch decodes gzip: the cap must stop the decoding after about 1 MiB.
  ["fetch", FetchHttpClient.layer, "BodyTooLarge"],
  // undici's request does not decode: it hands over the 300 KiB of gzip itself, which is not JSON.
  ["undici", NodeHttpClient.layerUndici, "NotJson"]
]

describe("the body cap against a gzip bomb", () => {
  it("the bomb is what it claims: small on the wire, hundreds of MiB decoded", () => {
    assert.isBelow(bomb.length, 400 * 1024)
    assert.isAbove(Zlib.gunzipSync(bomb.subarray(0, member.length * 2)).length, 15 * MiB)
  })

  for (const [clientName, http, expected] of clients) {
    for (const [readerName, read] of readers) {
      it.live(`${readerName} reader, ${clientName}: a 300 KiB gzip body with its Content-Length costs about 1 MiB`, () =>
        Effect.gen(function*() {
          const url = yield* gzipBomb
          const { growth, result } = yield* peakGrowth(read(url).pipe(Effect.provide(http)))
          // Revocation takes a body that is not JSON as RFC 7009's empty success.
          assert.strictEqual(result, readerName === "revocation" && expected === "NotJson" ? "ok" : expected)
          assert.isBelow(growth, 50 * MiB, `memory grew by ${Math.round(growth / MiB)} MiB`)
        }).pipe(Effect.scoped))
    }

    it.live(`${clientName}: a streamed bomb larger than the cap on the wire stops being read`, () =>
      Effect.gen(function*() {
        const written = { members: 0 }
        const limit = 2000
        const url = yield* streamedBomb(written, limit)
        const { growth, result } = yield* peakGrowth(readers[0][1](url).pipe(Effect.provide(http)))
        assert.strictEqual(result, "BodyTooLarge")
        assert.isBelow(growth, 50 * MiB, `memory grew by ${Math.round(growth / MiB)} MiB`)
        assert.isBelow(written.members, limit)
      }).pipe(Effect.scoped))
  }
})
