/**
 * The engine behind `OAuthClient`: it drives any number of token slots of one client at one
 * provider. A slot is plain data (its state, its flight in progress, its place in the scheduler's
 * queue); the engine holds what slots share — the token endpoint, the store, one scheduler fiber —
 * and runs the effects that the pure state machine of `./slot.ts` decides.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import * as Random from "effect/Random"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Grant from "../Grant.js"
import type { OAuthClientError } from "../OAuthClient.js"
import type { ConfigurationError } from "../OAuthError.js"
import { isFatal, ReauthorizationRequired, StoreError, TokenRequestError } from "../OAuthError.js"
import type { Provider } from "../Provider.js"
import type { ScopeSet } from "../Scopes.js"
import { Token } from "../Token.js"
import type { TokenEndpoint } from "../TokenEndpoint.js"
import type { Expectation, TokenStore } from "../TokenStore.js"
import { expectationOf } from "../TokenStore.js"
import type { Scheduler, Task } from "./scheduler.js"
import * as Slot from "./slot.js"

/** One token slot: plain data plus its single flight. @internal */
export interface SlotData {
  readonly key: string
  state: Slot.State
  inflight: Deferred.Deferred<Token, OAuthClientError> | undefined
  readonly task: Task
  /** Where the slot's token changes are published, once someone follows them (see `changes`). */
  hub: PubSub.PubSub<Option.Option<Token>> | undefined
  /** How many followers the slot has now: a followed slot is in use (it is not evicted). */
  followers: number
  /** When a caller last used the slot (for idle eviction). */
  lastUsed: number
  /** Whether the slot was closed (removed or evicted): it schedules nothing more. */
  closed: boolean
  /** How long the flight's token request took, if it sent one. */
  requestMillis: number | undefined
}

/** What every slot of an engine shares. @internal */
export interface Options {
  readonly provider: Provider<string>
  /** The scopes of a client-credentials grant; `None` for user slots (refresh tokens). */
  readonly clientCredentials: Option.Option<ScopeSet<string>>
  readonly endpoint: TokenEndpoint
  readonly store: TokenStore.Service
  readonly scheduler: Scheduler
  readonly scope: Scope.Scope
  readonly timing: Slot.Timing
}

/** Token requests sent, by grant and outcome. @internal */
export const tokenRequests = Metric.counter("effect_oauth_token_requests", {
  description: "Token requests sent, by grant type and outcome"
})

/** Refreshes that failed, by error. @internal */
export const refreshFailures = Metric.counter("effect_oauth_refresh_failures", {
  description: "Refreshes that failed, by error tag"
})

const retryAfterOf = (error: OAuthClientError): Option.Option<number> =>
  error instanceof TokenRequestError ? Option.fromNullable(error.retryAfterMillis) : Option.none()

const isInvalidGrant = (error: OAuthClientError): error is TokenRequestError =>
  error instanceof TokenRequestError && error.reason === "ErrorResponse" && error.error === "invalid_grant"

const newer = (candidate: Token, current: Option.Option<Token>) =>
  Option.isNone(current) || candidate.version > current.value.version

const sameToken = (a: Option.Option<Token>, b: Option.Option<Token>): boolean =>
  Option.isNone(a) ? Option.isNone(b) : Option.isSome(b) && a.value === b.value

const withVersion = (token: Token, version: number) =>
  token.version === version ? token : new Token({ ...token, version })

/** Builds the engine of one client at one provider. @internal */
export const make = (options: Options) => {
  const { endpoint, provider, scheduler, scope, store, timing } = options
  const isUser = Option.isNone(options.clientCredentials)

  const annotate = (slot: SlotData) => <A, E, R>(effect: Effect.Effect<A, E, R>) =>
    Effect.annotateLogs(effect, { "oauth.provider": provider.name, "oauth.slot": slot.key })

  const readStore = (key: string) =>
    store.get(key).pipe(
      Effect.catchAll((error) =>
        Effect.logWarning("token store read failed; continuing without it", error.message).pipe(
          Effect.as(Option.none<Token>())
        )
      )
    )

  const notify = (slot: SlotData, before: Option.Option<Token>) => {
    if (slot.hub !== undefined && !sameToken(before, slot.state.token)) slot.hub.unsafeOffer(slot.state.token)
  }

  const update = (slot: SlotData, f: (state: Slot.State) => Slot.State) => {
    const before = slot.state.token
    slot.state = f(slot.state)
    notify(slot, before)
  }

  // The next turn of the slot's background work: its refresh time, or its retry after a failure.
  const reschedule = (slot: SlotData, afterFailure: boolean) =>
    Effect.flatMap(Random.next, (random) =>
      Effect.clockWith((clock) =>
        Effect.sync(() => {
          if (slot.closed) return
          const now = clock.unsafeCurrentTimeMillis()
          const at = afterFailure
            ? Slot.retryAt(slot.state, now, random)
            : Slot.refreshAt(slot.state, now, random, timing)
          if (Option.isSome(at)) scheduler.schedule(slot.task, at.value)
          else scheduler.cancel(slot.task)
        })
      ))

  // Persistence failed: the new token stays in memory (the old refresh token is already spent)
  // and its write is retried with backoff, against the version the slot last read, until it lands
  // or a newer token supersedes it.
  const persistLater = (slot: SlotData, token: Token, expected: Expectation) =>
    Effect.gen(function*() {
      for (let attempt = 0; attempt < 30; attempt++) {
        yield* Effect.sleep(Duration.millis(Math.min(1_000 * 2 ** attempt, 5 * 60_000)))
        if (Option.isNone(slot.state.token) || slot.state.token.value !== token) return
        const written = yield* Effect.either(persist(slot, token, expected))
        if (written._tag === "Right") {
          if (written.right !== token) update(slot, (s) => ({ ...s, token: Option.some(written.right) }))
          return
        }
      }
    }).pipe(annotate(slot), Effect.forkIn(scope), Effect.asVoid)

  /**
   * Writes `token` if the store still holds what `expected` says. On a conflict the slot re-reads
   * the store: a usable stored token is adopted (another process refreshed first), otherwise ours is
   * written against the version just read. It never writes over a token it did not read.
   * Returns the token the slot should hold.
   */
  const persist = (slot: SlotData, token: Token, expected: Expectation): Effect.Effect<Token, StoreError> =>
    Effect.gen(function*() {
      let expect = expected
      let mine = token
      for (let attempt = 0; attempt < 3; attempt++) {
        const result = yield* store.set(slot.key, mine, expect)
        if (result._tag === "Written") return mine
        const current = result.current
        const now = yield* Clock.currentTimeMillis
        // A token at least as new as ours is another writer's refresh: adopt it. An older one (a
        // write of ours that failed earlier) is replaced, now that it has been read.
        if (
          Option.isSome(current) && current.value.version >= mine.version &&
          !Option.exists(current.value.expiresAt, (at) => at <= now)
        ) {
          yield* Effect.logDebug("another writer stored a token meanwhile; adopting it")
          return current.value
        }
        expect = expectationOf(current)
        mine = withVersion(
          mine,
          Option.match(current, { onNone: () => mine.version, onSome: (t) => Math.max(mine.version, t.version + 1) })
        )
      }
      return yield* new StoreError({
        reason: "Set",
        detail: "the stored token kept changing while the new one was written"
      })
    })

  // Deletes the slot's token (a sign-out), against the version read; a conflict is retried against
  // what the store answered, so a sign-out removes whatever it finds, but only after reading it.
  const removeAll = (slot: SlotData, seen: Option.Option<Token>): Effect.Effect<void, StoreError> =>
    Effect.gen(function*() {
      let expected = expectationOf(seen)
      for (let attempt = 0; attempt < 3; attempt++) {
        const result = yield* store.remove(slot.key, expected)
        if (result._tag === "Written") return
        expected = expectationOf(result.current)
      }
      return yield* new StoreError({ reason: "Remove", detail: "the stored token kept changing" })
    })

  const persistOrKeep = (slot: SlotData, token: Token, expected: Expectation) =>
    persist(slot, token, expected).pipe(
      Effect.catchAll((error) =>
        Effect.logWarning("could not persist the new token; keeping it in memory and retrying", error.message).pipe(
          Effect.zipRight(persistLater(slot, token, expected)),
          Effect.as(token)
        )
      )
    )

  const request = (
    slot: SlotData,
    grant: Grant.Grant,
    previous: Option.Option<Token>,
    requested: Option.Option<ScopeSet<string>>
  ) =>
    Effect.flatMap(Clock.currentTimeMillis, (start) =>
      endpoint.request(grant, {
        ...(Option.isSome(requested) ? { requested: requested.value } : {}),
        ...(Option.isSome(previous) ? { previous: previous.value } : {})
      }).pipe(
        Effect.ensuring(Effect.clockWith((clock) =>
          Effect.sync(() => {
            slot.requestMillis = clock.unsafeCurrentTimeMillis() - start
          })
        )),
        Effect.tapBoth({
          onFailure: (error) =>
            Metric.increment(Metric.tagged(Metric.tagged(tokenRequests, "grant", grant._tag), "outcome", error.reason)),
          onSuccess: () =>
            Metric.increment(Metric.tagged(Metric.tagged(tokenRequests, "grant", grant._tag), "outcome", "ok"))
        })
      ))

  // One token request for the slot; at most one runs at a time per slot (see `flight`).
  const fetchToken = (slot: SlotData, current: Option.Option<Token>): Effect.Effect<Token, OAuthClientError> =>
    Effect.gen(function*() {
      // Another process sharing the store may have refreshed already: adopt its token.
      const stored = yield* readStore(slot.key)
      const now = yield* Clock.currentTimeMillis
      if (
        Option.isSome(stored) && newer(stored.value, current) &&
        !Option.exists(stored.value.expiresAt, (at) => at <= now)
      ) {
        return stored.value
      }
      // A newer stored token that has expired meanwhile (its writer went idle) is still the one to
      // refresh from: the refresh token this slot holds was spent when that one was issued.
      const base = Option.isSome(stored) && newer(stored.value, current) ? stored : current
      const expected = expectationOf(base)
      if (Option.isSome(options.clientCredentials)) {
        const token = yield* request(
          slot,
          Grant.ClientCredentials(options.clientCredentials.value),
          Option.orElse(stored, () => current),
          options.clientCredentials
        )
        return yield* persistOrKeep(slot, token, expected)
      }
      const refreshToken = Option.flatMap(base, (token) => token.refreshToken)
      if (Option.isNone(refreshToken)) {
        return yield* new ReauthorizationRequired({
          reason: Option.isNone(base) ? "NoToken" : "NoRefreshToken",
          detail: Option.isNone(base)
            ? "no token is stored for this user: sign in first"
            : "the token expired and came without a refresh token: sign in again"
        })
      }
      const token = yield* request(slot, Grant.RefreshToken(refreshToken.value), base, Option.none()).pipe(
        Effect.catchIf(isInvalidGrant, () =>
          // The refresh token was refused: if another process rotated it and stored the result,
          // that token is ours too; otherwise the session is over.
          Effect.flatMap(readStore(slot.key), (latest) =>
            Option.isSome(latest) && newer(latest.value, base)
              ? Effect.succeed(latest.value)
              // Only the refused token is removed: a newer one written meanwhile stays.
              : Effect.zipRight(
                Effect.ignore(store.remove(slot.key, expectationOf(Option.orElse(latest, () => current)))),
                new ReauthorizationRequired({
                  reason: "RefreshRejected",
                  detail: "the server refused the refresh token: sign in again"
                })
              )))
      )
      return newer(token, stored) ? yield* persistOrKeep(slot, token, expected) : token
    }).pipe(
      (refresh) => store.withRefreshLock === undefined ? refresh : store.withRefreshLock(slot.key, refresh),
      Effect.withSpan("OAuthClient.refresh", {
        captureStackTrace: false,
        attributes: { "oauth.provider": provider.name, "oauth.session": isUser ? "User" : "ClientCredentials" }
      }),
      annotate(slot)
    )

  const kindOf = (error: OAuthClientError): Slot.FailureKind => {
    if (error instanceof ReauthorizationRequired && error.reason === "NoToken") return { _tag: "Forget" }
    if (isFatal(error)) {
      return isUser
        ? { _tag: "UserFatal", error, dropToken: error instanceof ReauthorizationRequired }
        : { _tag: "ClientFatal", error }
    }
    return { _tag: "Transient", retryAfterMillis: retryAfterOf(error) }
  }

  const finish = (slot: SlotData, exit: Exit.Exit<Token, OAuthClientError>) =>
    Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const duration = slot.requestMillis
      slot.requestMillis = undefined
      let forget = false
      if (Exit.isSuccess(exit)) {
        update(slot, (s) => Slot.succeeded(s, exit.value, now, duration))
      } else {
        const error = Cause.failureOption(exit.cause)
        if (Option.isSome(error)) {
          const kind = kindOf(error.value)
          forget = kind._tag === "Forget"
          update(slot, (s) => Slot.failed(s, kind, now, duration, timing))
          yield* Metric.increment(Metric.tagged(refreshFailures, "error", error.value.reason))
        }
      }
      slot.inflight = undefined
      // A slot with no token to refresh has no background turn: a login (setToken), a store's
      // announcement or the next caller (who reads the store) brings it back.
      if (forget) scheduler.cancel(slot.task)
      else yield* reschedule(slot, Exit.isFailure(exit))
    })

  const rateLimited = (retryAfterMillis: number) =>
    new TokenRequestError({ reason: "RateLimited", status: 429, retryAfterMillis })

  /**
   * The single flight: the first caller to find no usable token forks the token request into the
   * engine's scope (so an interrupted caller does not abort it for the others); everyone awaits it.
   * The scheduler's own turn (`inline`) runs it in its fiber instead, which is already the engine's:
   * a background refresh costs one fiber, not two. `observed` is the token the caller found
   * unusable: if the slot holds another one by now, that one is returned without a request. The
   * check and the claim happen in one step, with no yield between them.
   */
  const flight = (
    slot: SlotData,
    observed: Option.Option<Token>,
    inline = false
  ): Effect.Effect<Token, OAuthClientError> =>
    Effect.clockWith((clock) =>
      Effect.fiberIdWith((fiberId): Effect.Effect<Token, OAuthClientError> => {
        if (slot.inflight !== undefined) return Deferred.await(slot.inflight)
        const current = slot.state.token
        if (Option.isSome(current) && !sameToken(current, observed)) return Effect.succeed(current.value)
        const now = clock.unsafeCurrentTimeMillis()
        const admission = Slot.admit(slot.state, now, timing, rateLimited)
        switch (admission._tag) {
          case "Fail":
            return Effect.fail(admission.error)
          case "Wait":
            return Effect.zipRight(
              Effect.sleep(Duration.millis(admission.until - now)),
              flight(slot, observed, inline)
            )
          case "Fetch": {
            const deferred = Deferred.unsafeMake<Token, OAuthClientError>(fiberId)
            slot.inflight = deferred
            scheduler.cancel(slot.task)
            // Whatever ends the request (its interruption included), the slot is told and the callers answered.
            const run = Effect.uninterruptibleMask((restore) =>
              restore(fetchToken(slot, current)).pipe(
                Effect.exit,
                Effect.flatMap((exit) => Effect.zipRight(finish(slot, exit), Deferred.done(deferred, exit)))
              )
            )
            return Effect.zipRight(
              inline ? Effect.asVoid(run) : Effect.asVoid(Effect.forkIn(run, scope)),
              Deferred.await(deferred)
            )
          }
        }
      })
    )

  /** A usable token: the hot path of every authorized request, with no allocation when it is usable. */
  const token = (slot: SlotData): Effect.Effect<Token, OAuthClientError> =>
    Effect.clockWith((clock) => {
      const now = clock.unsafeCurrentTimeMillis()
      slot.lastUsed = now
      return Slot.isUsable(slot.state, now, timing)
        ? Effect.succeed((slot.state.token as Option.Some<Token>).value)
        : flight(slot, slot.state.token)
    })

  /** The background turn of a slot: refresh, and let `finish` schedule the next turn. */
  const background = (slot: SlotData): Effect.Effect<void> =>
    Effect.suspend(() => {
      if (slot.closed) return Effect.void
      return flight(slot, slot.state.token, true).pipe(
        Effect.catchAll((error) =>
          isFatal(error)
            ? Effect.logWarning("background refresh failed; the slot keeps the error", error.message)
            : Effect.logWarning("background refresh failed; retrying", error.message)
        ),
        Effect.asVoid,
        annotate(slot)
      )
    })

  /** Opens a slot: reads its stored token and schedules its refresh. */
  const open = (key: string): Effect.Effect<SlotData> =>
    Effect.gen(function*() {
      const stored = yield* readStore(key)
      const slot: SlotData = {
        key,
        state: Slot.initial(stored),
        inflight: undefined,
        task: { at: undefined, run: Effect.suspend(() => background(slot)) },
        hub: undefined,
        followers: 0,
        lastUsed: yield* Clock.currentTimeMillis,
        closed: false,
        requestMillis: undefined
      }
      yield* reschedule(slot, false)
      return slot
    })

  /** The slot schedules nothing more (its flight in progress, if any, still finishes). */
  const close = (slot: SlotData) => {
    slot.closed = true
    scheduler.cancel(slot.task)
  }

  const invalidate = (slot: SlotData, stale: Token): Effect.Effect<Token, OAuthClientError> =>
    Effect.suspend(() =>
      Option.isSome(slot.state.token) && slot.state.token.value === stale
        ? flight(slot, slot.state.token)
        : token(slot)
    )

  /**
   * The API refused `stale` again after a refresh. A user slot forgets it (the user signs in again); a
   * client-credentials slot gets a new token before the caller is answered, for the next callers.
   */
  const drop = (slot: SlotData, stale: Token): Effect.Effect<void> =>
    Effect.suspend(() => {
      if (Option.isNone(slot.state.token) || slot.state.token.value !== stale) return Effect.void
      if (!isUser) return Effect.ignore(flight(slot, slot.state.token))
      const error = new ReauthorizationRequired({
        reason: "Revoked",
        detail: "the API refused the token again after a refresh: the grant was probably revoked; sign in again"
      })
      return Effect.clockWith((clock) =>
        Effect.sync(() => {
          update(
            slot,
            (s) =>
              Slot.failed(s, { _tag: "UserFatal", error, dropToken: true }, clock.unsafeCurrentTimeMillis(), 0, timing)
          )
          scheduler.cancel(slot.task)
        })
      ).pipe(Effect.zipRight(Effect.ignore(store.remove(slot.key, expectationOf(Option.some(stale))))))
    })

  /**
   * Hands the slot a token from an interactive login. The write is a compare-and-set against the
   * version the slot last saw; on a conflict it is retried against the version just read (a new
   * login replaces whatever it finds, but only after reading it).
   */
  const setToken = (slot: SlotData, next: Token): Effect.Effect<void, StoreError> =>
    Effect.gen(function*() {
      let seen = slot.state.token
      for (let attempt = 0; attempt < 3; attempt++) {
        // Versions only grow in a slot, so stores can refuse stale writes.
        const adopted = Option.isSome(seen) && seen.value.version >= next.version
          ? withVersion(next, seen.value.version + 1)
          : next
        const result = yield* store.set(slot.key, adopted, expectationOf(seen))
        if (result._tag === "Written") {
          update(slot, (s) => Slot.loggedIn(s, adopted))
          return yield* reschedule(slot, false)
        }
        seen = result.current
      }
      return yield* new StoreError({
        reason: "Set",
        detail: "the stored token kept changing while the new one was written"
      })
    }).pipe(annotate(slot))

  /** Revokes at the provider where it can, and always deletes the slot's token, once. */
  const revoke = (slot: SlotData): Effect.Effect<void, TokenRequestError | ConfigurationError | StoreError> =>
    Effect.gen(function*() {
      const current = slot.state.token
      update(slot, Slot.cleared)
      scheduler.cancel(slot.task)
      const local = removeAll(slot, current)
      if (Option.isNone(current)) return yield* local
      const token = current.value
      yield* endpoint.revoke(Option.getOrElse(token.refreshToken, () => token.accessToken), {
        hint: Option.isSome(token.refreshToken) ? "refresh_token" : "access_token"
      }).pipe(Effect.ensuring(Effect.ignore(local)))
    }).pipe(
      Effect.withSpan("OAuthClient.revoke", {
        captureStackTrace: false,
        attributes: { "oauth.provider": provider.name }
      }),
      annotate(slot)
    )

  // The slot's hub, made when the first follower comes.
  const hubOf = (slot: SlotData) =>
    slot.hub === undefined
      ? Effect.map(PubSub.unbounded<Option.Option<Token>>(), (hub) => (slot.hub ??= hub))
      : Effect.succeed(slot.hub)

  /**
   * The slot's token now and after every change: the follower subscribes before it reads the token,
   * so no change is lost between the two (one may come twice: `OAuthClient` drops repeats).
   */
  const changes = (slot: SlotData): Stream.Stream<Option.Option<Token>> =>
    Stream.unwrapScoped(
      Effect.flatMap(
        Effect.zipRight(
          Effect.acquireRelease(Effect.sync(() => slot.followers++), () => Effect.sync(() => slot.followers--)),
          hubOf(slot)
        ),
        (hub) =>
          Effect.map(
            Stream.fromPubSub(hub, { scoped: true }),
            (changed) => Stream.concat(Stream.make(slot.state.token), changed)
          )
      )
    )

  return { scheduler, open, close, token, flight, invalidate, drop, setToken, revoke, changes }
}

/** The engine of one client at one provider. @internal */
export type Engine = ReturnType<typeof make>
