/**
 * Scopes as a requirement in an effect's type. `AuthorizedHttpClient.requireScopes` adds
 * `Granted<"chat.write">` to the requirements of the effect it wraps; an `OAuthClient` layer
 * provides `Granted<S>` for the scopes its grant can hold. Running an effect that needs a scope
 * the client cannot have then leaves `Granted<that scope>` unprovided: a compile error. Where the
 * types cannot know (a user's login, scopes read at run time), the layer provides the provider's
 * whole scope type and the check happens at run time, as a typed `InsufficientScope`.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Layer from "effect/Layer"
import type { Covariant } from "effect/Types"
import type { ScopeSet } from "./Scopes.js"

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = Symbol.for("@effect-oauth/core/Granted")

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * The capability "the client may hold the scopes `S`". Covariant: a client that may hold
 * `"public" | "identify"` satisfies an effect that needs `Granted<"public">`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Granted<out S extends string> {
  readonly [TypeId]: { readonly _S: Covariant<S> }
}

/**
 * One requirement per scope, so a compile error names each missing scope on its own.
 *
 * @since 0.1.0
 * @category type-level
 */
export type Each<S extends string> = S extends string ? Granted<S> : never

const key = "@effect-oauth/core/Granted"

/**
 * The tag of `Granted<S>`; its service is the set of scopes the client's grant asks for (every
 * `Granted<S>` shares one key: the requirement lives in the types).
 *
 * @since 0.1.0
 * @category tags
 */
export const tag = <S extends string>(): Context.Tag<Granted<S>, ScopeSet<S>> =>
  Context.GenericTag<Granted<S>, ScopeSet<S>>(key)

/**
 * Provides `Granted<S>`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = <S extends string>(scopes: ScopeSet<S>): Layer.Layer<Granted<S>> => Layer.succeed(tag<S>(), scopes)
