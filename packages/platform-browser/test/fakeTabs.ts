/**
 * Stand-ins for what tabs of one origin share: `navigator.locks` and `BroadcastChannel`. Every
 * message posted on a channel is kept in `FakeChannel.posted`, so a test can check what went out.
 */
import { afterEach, beforeEach } from "vitest"

/** One FIFO queue per lock name, shared by the "tabs". */
export class FakeLocks {
  private readonly queues = new Map<string, Array<() => void>>()
  private readonly held = new Set<string>()
  requested = 0
  request(name: string, options: { signal?: AbortSignal }, callback: () => Promise<void>): Promise<void> {
    this.requested++
    return new Promise((resolve, reject) => {
      const run = () => {
        this.held.add(name)
        callback().finally(() => {
          this.held.delete(name)
          resolve()
          this.queues.get(name)?.shift()?.()
        })
      }
      if (!this.held.has(name)) return run()
      const queue = this.queues.get(name) ?? []
      this.queues.set(name, queue)
      queue.push(run)
      options.signal?.addEventListener("abort", () => {
        queue.splice(queue.indexOf(run), 1)
        reject(new Error("aborted"))
      })
    })
  }
}

/** Delivers to every other open instance of the same name, as a `BroadcastChannel` does. */
export class FakeChannel {
  static readonly open = new Set<FakeChannel>()
  static readonly posted: Array<unknown> = []
  onmessage: ((event: { readonly data: unknown }) => void) | null = null
  constructor(readonly name: string) {
    FakeChannel.open.add(this)
  }
  postMessage(data: unknown) {
    FakeChannel.posted.push(data)
    // A structured clone, as the browser sends: nothing is shared with the sender.
    const copy = structuredClone(data)
    for (const other of FakeChannel.open) {
      if (other !== this && other.name === this.name) queueMicrotask(() => other.onmessage?.({ data: copy }))
    }
  }
  close() {
    FakeChannel.open.delete(this)
  }
}

/** Installs the fakes before each test of the file and restores the globals after it. */
export const useFakeTabs = (): { readonly locks: () => FakeLocks } => {
  const globals = globalThis as unknown as Record<string, unknown>
  const saved = { navigator: globals.navigator, BroadcastChannel: globals.BroadcastChannel }
  let locks = new FakeLocks()
  beforeEach(() => {
    locks = new FakeLocks()
    FakeChannel.posted.length = 0
    Object.defineProperty(globalThis, "navigator", { value: { locks }, configurable: true, writable: true })
    globals.BroadcastChannel = FakeChannel
  })
  afterEach(() => {
    Object.defineProperty(globalThis, "navigator", { value: saved.navigator, configurable: true, writable: true })
    globals.BroadcastChannel = saved.BroadcastChannel
  })
  return { locks: () => locks }
}
