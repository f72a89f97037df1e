/**
 * Tools for tests and benchmarks that run a long time on simulated time: a clock that drops an
 * interrupted sleep at once, and the busiest window of a series of request times.
 *
 * `TestClock` keeps every sleep it was given until its time passes (each token request's timeouts
 * among them) and settles every fiber on real timers before firing each, which makes 100,000
 * refresh cycles or 10,000 slots over hours far too slow; this clock does neither.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"

/**
 * A simulated clock and its controls.
 *
 * @since 0.1.0
 * @category models
 */
export interface SimulatedClock {
  /** The clock, for `Effect.withClock`. */
  readonly clock: Clock.Clock
  /** Moves time forward and wakes every sleep that is due. */
  readonly advance: (by: Duration.DurationInput) => Effect.Effect<void>
  /** The current time (epoch milliseconds). */
  readonly now: () => number
  /** How many sleeps are pending. */
  readonly pending: () => number
}

/**
 * A clock starting at `start` (epoch milliseconds) whose time moves only by `advance`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const clock = (start = 1_700_000_000_000): SimulatedClock => {
  let now = start
  const sleepers = new Set<{ readonly at: number; readonly wake: () => void }>()
  return {
    clock: {
      [Clock.ClockTypeId]: Clock.ClockTypeId,
      unsafeCurrentTimeMillis: () => now,
      unsafeCurrentTimeNanos: () => BigInt(now) * 1_000_000n,
      currentTimeMillis: Effect.sync(() => now),
      currentTimeNanos: Effect.sync(() => BigInt(now) * 1_000_000n),
      sleep: (duration) =>
        Effect.async<void>((resume) => {
          const sleeper = { at: now + Duration.toMillis(duration), wake: () => resume(Effect.void) }
          sleepers.add(sleeper)
          return Effect.sync(() => sleepers.delete(sleeper))
        })
    },
    advance: (by) =>
      Effect.sync(() => {
        now += Duration.toMillis(by)
        for (const sleeper of [...sleepers]) {
          if (sleeper.at <= now) {
            sleepers.delete(sleeper)
            sleeper.wake()
          }
        }
      }),
    now: () => now,
    pending: () => sleepers.size
  }
}

/**
 * The most of `times` (epoch milliseconds) in any window [t, t + `periodMillis`): what a rate limit
 * of "at most N per period, in any window" is checked against.
 *
 * @since 0.1.0
 * @category utils
 */
export const busiestWindow = (times: ReadonlyArray<number>, periodMillis: number): number => {
  const sorted = [...times].sort((a, b) => a - b)
  let most = 0
  for (let i = 0, j = 0; i < sorted.length; i++) {
    while (sorted[j] <= sorted[i] - periodMillis) j++
    most = Math.max(most, i - j + 1)
  }
  return most
}
