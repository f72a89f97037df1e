/**
 * The glue between the public `OAuthClient` / `Registry` modules and the engine: timing options,
 * an engine with its own scheduler, and the service face of one slot.
 *
 * @internal
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { OAuthClient, Options } from "../OAuthClient.js"
import type { Provider } from "../Provider.js"
import type { ScopeSet } from "../Scopes.js"
import type { Token } from "../Token.js"
import * as TokenEndpoint from "../TokenEndpoint.js"
import { TokenStore } from "../TokenStore.js"
import * as Engine from "./engine.js"
import * as Scheduler from "./scheduler.js"
import type * as Slot from "./slot.js"

/** @internal */
export const timingOf = (options: Omit<Options, "provider" | "client" | "session">): Slot.Timing => ({
  maxLeadMillis: Duration.toMillis(options.maxSkew ?? Duration.seconds(60)),
  minRefreshIntervalMillis: Duration.toMillis(options.minRefreshInterval ?? Duration.millis(500)),
  maxWaitMillis: Duration.toMillis(options.deadline ?? Duration.seconds(60)),
  coolDownMillis: Duration.toMillis(options.coolDown ?? Duration.minutes(1)),
  maxCoolDownMillis: Duration.toMillis(options.maxCoolDown ?? Duration.hours(1))
})

// The service of one slot of an engine: `slot` is the slot itself, or how to find the slot open
// now (a registry's handle, which reopens an evicted slot).
/** @internal */
export const serviceOf = <S extends string>(
  engine: Engine.Engine,
  key: string,
  slot: Engine.SlotData | Effect.Effect<Engine.SlotData>,
  provider: Provider<string>,
  clientId: string
): OAuthClient.Service<S> => {
  const on = Effect.isEffect(slot)
    ? <A, E>(f: (slot: Engine.SlotData) => Effect.Effect<A, E>) => Effect.flatMap(slot, f)
    : <A, E>(f: (slot: Engine.SlotData) => Effect.Effect<A, E>) => Effect.suspend(() => f(slot))
  // The hot path: one effect, built once, for a slot that never moves.
  const token = Effect.isEffect(slot) ? Effect.flatMap(slot, engine.token) : engine.token(slot)
  return {
    key,
    provider,
    clientId,
    token,
    refresh: on((s) => engine.flight(s, s.state.token)),
    invalidate: (stale) => on((s) => engine.invalidate(s, stale)),
    drop: (stale) => on((s) => engine.drop(s, stale)),
    changes: Stream.changesWith(Stream.unwrap(on((s) => Effect.succeed(engine.changes(s)))), sameToken),
    // The server grants what the session's grant asks for: the types say which scopes those are.
    scopes: Effect.map(token, (t) => t.scopes as ScopeSet<S>),
    setToken: (next) => on((s) => engine.setToken(s, next)),
    revoke: on(engine.revoke)
  }
}

/** @internal */
export const makeEngine = (
  options: Omit<Options, "session">,
  clientCredentials: Option.Option<ScopeSet<string>>,
  concurrency: number
): Effect.Effect<Engine.Engine, never, HttpClient.HttpClient | TokenStore | Scope.Scope> =>
  Effect.gen(function*() {
    const store = yield* TokenStore
    const endpoint = yield* TokenEndpoint.make({
      provider: options.provider,
      client: options.client,
      attemptTimeout: options.attemptTimeout,
      deadline: options.deadline
    })
    const scheduler = yield* Scheduler.make({ concurrency })
    return Engine.make({
      provider: options.provider,
      clientCredentials,
      endpoint,
      store,
      scheduler,
      scope: yield* Effect.scope,
      timing: timingOf(options)
    })
  })

const sameToken = (a: Option.Option<Token>, b: Option.Option<Token>): boolean =>
  Option.isNone(a) ? Option.isNone(b) : Option.isSome(b) && a.value === b.value
