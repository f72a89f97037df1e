/**
 * Scopes as a requirement in an effect's type, keyed by provider.
 * `AuthorizedHttpClient.requireScopes(Osu.provider, "chat.write")` adds
 * `Granted<Osu.Osu, "chat.write">` to the requirements of the effect it wraps; an `OAuthClient`
 * layer provides `Granted<P, S>` for its provider `P` and the scopes `S` its grant can hold.
 * Running an effect that needs a scope the client cannot have — or a scope of another provider —
 * then leaves `Granted<that provider, that scope>` unprovided: a compile error. Where the types
 * cannot know (scopes read at run time), the layer provides the provider's whole scope type and the
 * check happens at run time, as a typed `ScopeError`.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Layer from "effect/Layer"
import type { Covariant, Invariant } from "effect/Types"
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
 * The capability "a client of the provider `P` may hold the scopes `S`". `P` is the provider's
 * own type (`Osu.Osu`, `Spotify.Spotify`, or `typeof provider`), and is invariant: a Spotify
 * client's scopes never satisfy an osu! requirement. `S` is covariant: a client that may hold
 * `"public" | "identify"` satisfies an effect that needs `Granted<Osu.Osu, "public">`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Granted<in out P, out S extends string> {
  readonly [TypeId]: { readonly _P: Invariant<P>; readonly _S: Covariant<S> }
}

/**
 * One requirement per scope, so a compile error names each missing scope on its own.
 *
 * @since 0.1.0
 * @category type-level
 */
export type Each<P, S extends string> = S extends string ? Granted<P, S> : never

/**
 * What a provider needs for its `Granted` tag: the name its key is made of.
 *
 * @since 0.1.0
 * @category models
 */
export interface Named {
  readonly name: string
}

/**
 * The tag of `Granted<P, S>` for `provider`; its service is the set of scopes the client's grant
 * asks for. The key holds the provider's name, so two providers' `Granted` never share a key
 * (the scopes themselves live in the types).
 *
 * @since 0.1.0
 * @category tags
 */
export const tag = <P extends Named, S extends string>(provider: P): Context.Tag<Granted<P, S>, ScopeSet<S>> =>
  Context.GenericTag<Granted<P, S>, ScopeSet<S>>(`@effect-oauth/core/Granted/${provider.name}`)

/**
 * Provides `Granted<P, S>` for `provider` and `scopes`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = <P extends Named, S extends string>(
  provider: P,
  scopes: ScopeSet<S>
): Layer.Layer<Granted<P, S>> => Layer.succeed(tag<P, S>(provider), scopes)
