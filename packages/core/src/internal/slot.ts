/**
 * The state machine of one token slot, as pure functions over plain data: whether its token is
 * usable, what a caller does now (use it, wait out a cool-down, fail, or fetch), when the slot is
 * refreshed next, and how a finished token request changes it (BEHAVIOUR.md §4). The engine in
 * `OAuthClient` holds the data and runs the effects; everything decided lives here, so it is
 * tested without a clock or a server.
 *
 * @internal
 */
import * as Option from "effect/Option"
import type { OAuthClientError } from "../OAuthClient.js"
import type { Token } from "../Token.js"

/** The timing rules of a slot. @internal */
export interface Timing {
  /** The most a refresh is moved ahead of expiry. */
  readonly maxLeadMillis: number
  /** The least time between two refreshes (a floor on the refresh rate). */
  readonly minRefreshIntervalMillis: number
  /** How long a caller may wait for a cool-down to end before it gets the error instead. */
  readonly maxWaitMillis: number
  /** A client-credentials slot's first cool-down after a fatal error; it doubles up to `maxCoolDownMillis`. */
  readonly coolDownMillis: number
  readonly maxCoolDownMillis: number
}

/** A fatal failure kept by the slot; `retryAt` is when a client-credentials slot tries again. @internal */
export interface Failure {
  readonly error: OAuthClientError
  readonly retryAt: number
  /** How many fatal failures in a row: the cool-down doubles with each. */
  readonly strikes: number
}

/** The data of one slot. @internal */
export interface State {
  readonly token: Option.Option<Token>
  readonly failure: Option.Option<Failure>
  /** No token request before this time (epoch ms): the server's `Retry-After`. */
  readonly coolUntil: number
  /** When the last token request finished. */
  readonly lastRefreshAt: number
  /** The slowest of the last few token requests (ms): the refresh lead follows it. */
  readonly recentDurations: ReadonlyArray<number>
  /** Background failures in a row, for the refresh fiber's backoff. */
  readonly transientFailures: number
}

/** A slot that holds nothing yet. @internal */
export const initial = (token: Option.Option<Token>): State => ({
  token,
  failure: Option.none(),
  coolUntil: Number.NEGATIVE_INFINITY,
  lastRefreshAt: Number.NEGATIVE_INFINITY,
  recentDurations: [],
  transientFailures: 0
})

const durationsKept = 4

/** The longest of the slot's recent token requests. @internal */
export const recentDuration = (state: State): number => state.recentDurations.reduce((max, d) => Math.max(max, d), 0)

/**
 * Whether the token can be handed out at `now`. An expired token is still handed out right after a
 * refresh (within the minimum interval): with `expires_in: 0` this keeps callers out of a hot loop.
 *
 * @internal
 */
export const isUsable = (state: State, now: number, timing: Timing): boolean => {
  if (Option.isNone(state.token)) return false
  const expiresAt = state.token.value.expiresAt
  return Option.isNone(expiresAt) || now < expiresAt.value ||
    now < state.lastRefreshAt + timing.minRefreshIntervalMillis
}

/** What a caller does when it finds no usable token. @internal */
export type Admission =
  | { readonly _tag: "Fail"; readonly error: OAuthClientError }
  | { readonly _tag: "Wait"; readonly until: number }
  | { readonly _tag: "Fetch" }

/**
 * What a caller without a usable token does at `now`: a kept fatal failure is returned (until a
 * client-credentials slot's cool-down ends); during a `Retry-After` cool-down the caller waits when
 * it ends within `maxWaitMillis`, else gets `RateLimited` with the time left at once; otherwise it
 * fetches (joining the flight in progress).
 *
 * @internal
 */
export const admit = (
  state: State,
  now: number,
  timing: Timing,
  rateLimited: (retryAfterMillis: number) => OAuthClientError
): Admission => {
  if (Option.isSome(state.failure) && now < state.failure.value.retryAt) {
    return { _tag: "Fail", error: state.failure.value.error }
  }
  if (now < state.coolUntil) {
    const left = state.coolUntil - now
    return left <= timing.maxWaitMillis ? { _tag: "Wait", until: state.coolUntil } : {
      _tag: "Fail",
      error: rateLimited(left)
    }
  }
  return { _tag: "Fetch" }
}

/**
 * How far ahead of expiry a token is refreshed: min(max lead, max(10% of the lifetime, 2 × the
 * slot's recent token-request duration)), never more than half the lifetime.
 *
 * @internal
 */
export const leadMillis = (lifetime: number, recent: number, timing: Timing): number =>
  Math.min(timing.maxLeadMillis, Math.max(lifetime / 10, 2 * recent), lifetime / 2)

/**
 * When the refresh fiber refreshes the slot's token: its lead ahead of expiry, plus up to half the
 * lead again as jitter (`random` in [0, 1)) so that processes started together spread out, but never
 * before half the lifetime, the minimum interval after the last refresh, or the end of a cool-down.
 * `None`: nothing to refresh (no token, or no lifetime).
 *
 * @internal
 */
export const refreshAt = (state: State, now: number, random: number, timing: Timing): Option.Option<number> => {
  if (Option.isNone(state.token) || Option.isNone(state.token.value.expiresAt)) return Option.none()
  const token = state.token.value
  const expiresAt = state.token.value.expiresAt.value
  const lifetime = Math.max(0, expiresAt - token.issuedAt)
  const lead = leadMillis(lifetime, recentDuration(state), timing)
  const at = Math.max(expiresAt - lead - random * lead * 0.5, token.issuedAt + lifetime / 2)
  return Option.some(
    Math.ceil(Math.max(at, state.lastRefreshAt + timing.minRefreshIntervalMillis, now, state.coolUntil))
  )
}

const remember = (durations: ReadonlyArray<number>, duration: number | undefined) =>
  duration === undefined ? durations : [...durations.slice(-(durationsKept - 1)), duration]

/**
 * A flight finished with a token; `duration` is how long its token request took (undefined when
 * it sent none, e.g. it adopted a stored token): only the request itself counts for the lead.
 *
 * @internal
 */
export const succeeded = (state: State, token: Token, now: number, duration: number | undefined): State => ({
  token: Option.some(token),
  failure: Option.none(),
  coolUntil: state.coolUntil,
  lastRefreshAt: now,
  recentDurations: remember(state.recentDurations, duration),
  transientFailures: 0
})

/** How a failed token request is kept. @internal */
export type FailureKind =
  /** OAuthClientError for a user slot: kept until a new login; the token is dropped when `dropToken`. */
  | { readonly _tag: "UserFatal"; readonly error: OAuthClientError; readonly dropToken: boolean }
  /** OAuthClientError for a client-credentials slot: kept for a cool-down that doubles with each strike. */
  | { readonly _tag: "ClientFatal"; readonly error: OAuthClientError }
  /** Worth retrying; `retryAfterMillis` is the server's `Retry-After`, which every caller then keeps. */
  | { readonly _tag: "Transient"; readonly retryAfterMillis: Option.Option<number> }
  /** Nothing to keep (e.g. no token stored yet: another process may store one). */
  | { readonly _tag: "Forget" }

/** A token request failed. @internal */
export const failed = (
  state: State,
  kind: FailureKind,
  now: number,
  duration: number | undefined,
  timing: Timing
): State => {
  const recentDurations = remember(state.recentDurations, duration)
  switch (kind._tag) {
    case "UserFatal":
      return {
        ...state,
        recentDurations,
        token: kind.dropToken ? Option.none() : state.token,
        failure: Option.some({ error: kind.error, retryAt: Number.POSITIVE_INFINITY, strikes: 1 })
      }
    case "ClientFatal": {
      const strikes = Option.match(state.failure, { onNone: () => 1, onSome: (f) => f.strikes + 1 })
      const coolDown = Math.min(timing.coolDownMillis * 2 ** (strikes - 1), timing.maxCoolDownMillis)
      return {
        ...state,
        recentDurations,
        failure: Option.some({ error: kind.error, retryAt: now + coolDown, strikes })
      }
    }
    case "Transient":
      return {
        ...state,
        recentDurations,
        transientFailures: state.transientFailures + 1,
        coolUntil: Option.match(kind.retryAfterMillis, {
          onNone: () => state.coolUntil,
          onSome: (millis) => Math.max(state.coolUntil, now + millis)
        })
      }
    case "Forget":
      return { ...state, recentDurations }
  }
}

const backoffBaseMillis = 1_000
const backoffMaxMillis = 5 * 60_000

/**
 * When the refresh fiber tries again after a failure: a client-credentials slot's cool-down end, or
 * a backoff doubling from 1 s (jittered by `random` in [0, 1)) that never ends before a cool-down.
 * `None` when the slot waits for a new login.
 *
 * @internal
 */
export const retryAt = (state: State, now: number, random: number): Option.Option<number> => {
  if (Option.isSome(state.failure)) {
    const at = state.failure.value.retryAt
    return Number.isFinite(at) ? Option.some(at) : Option.none()
  }
  const backoff = Math.min(backoffBaseMillis * 2 ** Math.max(0, state.transientFailures - 1), backoffMaxMillis)
  return Option.some(Math.ceil(Math.max(now + backoff * (0.75 + random * 0.5), state.coolUntil)))
}

/** The slot is handed a token from a login: a kept failure is cleared. @internal */
export const loggedIn = (state: State, token: Token): State => ({
  ...state,
  token: Option.some(token),
  failure: Option.none(),
  transientFailures: 0
})

/** The slot's token is gone (logout, or a token the API refused again). @internal */
export const cleared = (state: State): State => ({ ...state, token: Option.none() })
