/**
 * One fiber that runs many slots' timed work (their refreshes), from a queue ordered by time: an
 * idle slot costs an entry in that queue, not a fiber. While it waits, one timer fiber sleeps toward
 * the earliest task (a task scheduled sooner wakes the loop, which re-arms the timer). Due tasks run
 * in fibers of their own, `concurrency` at a time, so one slow token endpoint does not hold up the
 * rest of the queue for long, and the fibers alive never depend on how many tasks are queued.
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import type * as Scope from "effect/Scope"

/** Work to run at a time; `at` is when it is due (undefined: not scheduled). @internal */
export interface Task {
  at: number | undefined
  readonly run: Effect.Effect<void>
}

/** @internal */
export interface Scheduler {
  /** Runs `task` at `at` (epoch ms), replacing the time it had. */
  readonly schedule: (task: Task, at: number) => void
  /** The task will not run (until it is scheduled again). */
  readonly cancel: (task: Task) => void
}

/** A task with no work, for slots whose work is attached later. @internal */
export const task = (run: Effect.Effect<void>): Task => ({ at: undefined, run })

interface Entry {
  readonly at: number
  readonly task: Task
}

// A binary min-heap by time. A rescheduled task leaves its old entry behind; an entry whose time is
// no longer its task's is skipped when it comes up (so rescheduling costs O(log n), no search).
class Heap {
  private readonly items: Array<Entry> = []
  get size() {
    return this.items.length
  }
  peek(): Entry | undefined {
    return this.items[0]
  }
  push(entry: Entry) {
    const items = this.items
    items.push(entry)
    let i = items.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (items[parent].at <= entry.at) break
      items[i] = items[parent]
      i = parent
    }
    items[i] = entry
  }
  pop(): Entry | undefined {
    const items = this.items
    const top = items[0]
    const last = items.pop()
    if (items.length > 0 && last !== undefined) {
      let i = 0
      for (;;) {
        const left = 2 * i + 1
        if (left >= items.length) break
        const right = left + 1
        const child = right < items.length && items[right].at < items[left].at ? right : left
        if (items[child].at >= last.at) break
        items[i] = items[child]
        i = child
      }
      items[i] = last
    }
    return top
  }
}

const live = (entry: Entry) => entry.task.at === entry.at

// Timers count whole milliseconds, and a sleep longer than a day is cut short and re-armed: both
// keep the timer finite whatever a token's lifetime.
const maxSleepMillis = Duration.toMillis(Duration.hours(24))

/**
 * Starts the scheduler's fiber in the current scope; closing the scope interrupts it and every task
 * it started.
 *
 * @internal
 */
export const make = (options: { readonly concurrency: number }): Effect.Effect<Scheduler, never, Scope.Scope> =>
  Effect.gen(function*() {
    const scope = yield* Effect.scope
    const permits = yield* Effect.makeSemaphore(Math.max(1, options.concurrency))
    const heap = new Heap()
    // What the fiber sleeps toward, and how to wake it when something earlier comes in.
    let target = Number.POSITIVE_INFINITY
    let wake = Deferred.unsafeMake<void>(FiberId.none)

    const schedule = (task: Task, at: number) => {
      task.at = at
      heap.push({ at, task })
      if (at < target) {
        target = at
        Deferred.unsafeDone(wake, Exit.void)
      }
    }
    const cancel = (task: Task) => {
      task.at = undefined
    }

    const runDue = (now: number) =>
      Effect.gen(function*() {
        for (;;) {
          const head = heap.peek()
          if (head === undefined || head.at > now) return
          heap.pop()
          if (!live(head)) continue
          head.task.at = undefined
          yield* permits.take(1)
          yield* Effect.forkIn(Effect.ensuring(head.task.run, permits.release(1)), scope)
        }
      })

    // The loop waits on `wake` alone: the timer (a fiber that sleeps, then completes it) or an
    // earlier task (`schedule`) completes it. Racing the sleep against the wake-up instead would
    // keep three fibers alive where this keeps two.
    const loop = Effect.gen(function*() {
      for (;;) {
        yield* runDue(yield* Clock.currentTimeMillis)
        while (heap.size > 0 && !live(heap.peek()!)) heap.pop()
        const next = heap.peek()
        const ring = Deferred.unsafeMake<void>(FiberId.none)
        wake = ring
        target = next === undefined ? Number.POSITIVE_INFINITY : next.at
        let timer: Fiber.RuntimeFiber<void> | undefined
        if (next !== undefined) {
          const delay = Math.min(Math.ceil(next.at - (yield* Clock.currentTimeMillis)), maxSleepMillis)
          if (delay < 1) continue
          timer = yield* Effect.forkIn(
            Effect.asVoid(Effect.zipRight(Effect.sleep(Duration.millis(delay)), Deferred.succeed(ring, undefined))),
            scope
          )
        }
        yield* Deferred.await(ring)
        // Woken early: the timer sleeps toward a time that no longer matters. Interrupted in place
        // (`Fiber.interruptFork` would start a fiber to do it).
        if (timer !== undefined) timer.unsafeInterruptAsFork(FiberId.none)
      }
    })

    yield* Effect.forkIn(Effect.interruptible(loop), scope)
    return { schedule, cancel }
  })
