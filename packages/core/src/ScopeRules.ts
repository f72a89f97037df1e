/**
 * A provider's scope policy as data: per grant, the default scopes, the scopes the server always
 * grants, whether scopes must be asked for explicitly; and a list of named constraints (osu!'s
 * delegation rules, Spotify's "no user scopes with client credentials"). `validate` checks a
 * request against the policy before anything is sent, and names the rule it breaks.
 *
 * @since 0.1.0
 */
import * as Either from "effect/Either"
import type { GrantKind } from "./Grant.js"
import { ScopeError } from "./OAuthError.js"
import type { ScopeSet } from "./Scopes.js"
import { empty, fromIterable, isScopeToken, isSubset, union } from "./Scopes.js"

/**
 * What a grant does with scopes.
 *
 * @since 0.1.0
 * @category models
 */
export interface GrantPolicy<S extends string> {
  /** Asked for when the request names none. */
  readonly defaults?: ReadonlyArray<S> | undefined
  /** Always granted by the server (osu!: `identify` for authorization code). */
  readonly implied?: ReadonlyArray<S> | undefined
  /** An empty request is refused (osu!'s client credentials has no default). */
  readonly explicit?: boolean | undefined
  /** When given, the only scopes this grant may request (rule `grant-scope-not-allowed`). */
  readonly allowed?: ReadonlyArray<S> | undefined
  /** Scopes this grant may not request (rule `grant-scope-forbidden`). */
  readonly forbidden?: ReadonlyArray<S> | undefined
}

/**
 * Every kind of grant, for constraints that hold whatever the grant.
 *
 * @since 0.1.0
 * @category constants
 */
export const allGrants = [
  "ClientCredentials",
  "AuthorizationCode",
  "RefreshToken",
  "DeviceCode",
  "Password"
] as const satisfies ReadonlyArray<GrantKind>

/**
 * If any `trigger` scope is requested with one of `grants`, `required` must be requested too.
 *
 * @since 0.1.0
 * @category models
 */
export interface RequiresWhenAny<S extends string = string> {
  readonly _tag: "RequiresWhenAny"
  readonly name: string
  readonly grants: ReadonlyArray<GrantKind>
  readonly trigger: ReadonlyArray<S>
  readonly required: S
}

/**
 * If any `trigger` scope is requested with one of `grants`, every requested scope must be among
 * `allowed`.
 *
 * @since 0.1.0
 * @category models
 */
export interface OnlyWithin<S extends string = string> {
  readonly _tag: "OnlyWithin"
  readonly name: string
  readonly grants: ReadonlyArray<GrantKind>
  readonly trigger: ReadonlyArray<S>
  readonly allowed: ReadonlyArray<S>
}

/**
 * `scopes` (or, with `"all"`, any scope at all) may not be requested with `grants`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Forbidden<S extends string = string> {
  readonly _tag: "Forbidden"
  readonly name: string
  readonly grants: ReadonlyArray<GrantKind>
  readonly scopes: ReadonlyArray<S> | "all"
}

/**
 * `scopes` may be requested only with `grants`.
 *
 * @since 0.1.0
 * @category models
 */
export interface OnlyForGrants<S extends string = string> {
  readonly _tag: "OnlyForGrants"
  readonly name: string
  readonly scopes: ReadonlyArray<S>
  readonly grants: ReadonlyArray<GrantKind>
}

/**
 * Each of `scopes`, when requested with one of `grants`, must be the only scope requested
 * (osu!: `*` is not valid with other scopes): two of them together are refused as well.
 *
 * @since 0.1.0
 * @category models
 */
export interface Exclusive<S extends string = string> {
  readonly _tag: "Exclusive"
  readonly name: string
  readonly grants: ReadonlyArray<GrantKind>
  readonly scopes: ReadonlyArray<S>
}

/**
 * A named rule over the scopes requested with some grants. The name is what an
 * `ScopeError` reports as its `rule`.
 *
 * @since 0.1.0
 * @category models
 */
export type Constraint<S extends string = string> =
  | RequiresWhenAny<S>
  | OnlyWithin<S>
  | Forbidden<S>
  | OnlyForGrants<S>
  | Exclusive<S>

/**
 * A provider's scope policy. Presets declare theirs `as const satisfies ScopeRules<S>`, so the
 * literal scope and rule names stay visible to the type checker.
 *
 * @since 0.1.0
 * @category models
 */
export interface ScopeRules<S extends string> {
  /** The provider's scopes; `"any"` accepts every grammatical scope. */
  readonly known: ReadonlyArray<S> | "any"
  readonly grants: { readonly [G in GrantKind]?: GrantPolicy<S> }
  readonly constraints: ReadonlyArray<Constraint<S>>
}

/**
 * Accepts every scope that fits the RFC 6749 §3.3 grammar.
 *
 * @since 0.1.0
 * @category constructors
 */
export const permissive: ScopeRules<string> = { known: "any", grants: {}, constraints: [] }

type Fields<C> = Omit<C, "_tag">

/**
 * A named constraint: if any `trigger` scope is requested with one of `grants`, `required` must be
 * requested too. The result keeps the literal types of its arguments.
 *
 * @since 0.1.0
 * @category constructors
 */
export const requiresWhenAny = <const C extends Fields<RequiresWhenAny>>(
  fields: C
): { readonly _tag: "RequiresWhenAny" } & C => ({ _tag: "RequiresWhenAny" as const, ...fields })

/**
 * A named constraint: if any `trigger` scope is requested with one of `grants`, every requested
 * scope must be among `allowed`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const onlyWithin = <const C extends Fields<OnlyWithin>>(
  fields: C
): { readonly _tag: "OnlyWithin" } & C => ({ _tag: "OnlyWithin" as const, ...fields })

/**
 * A named constraint: `scopes` (or, with `"all"`, any scope) may not be requested with `grants`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const forbidden = <const C extends Fields<Forbidden>>(
  fields: C
): { readonly _tag: "Forbidden" } & C => ({ _tag: "Forbidden" as const, ...fields })

/**
 * A named constraint: `scopes` may be requested only with `grants`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const onlyForGrants = <const C extends Fields<OnlyForGrants>>(
  fields: C
): { readonly _tag: "OnlyForGrants" } & C => ({ _tag: "OnlyForGrants" as const, ...fields })

/**
 * A named constraint: each of `scopes`, requested with one of `grants`, must be requested alone
 * (not with another scope, even one of `scopes`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const exclusive = <const C extends Fields<Exclusive>>(
  fields: C
): { readonly _tag: "Exclusive" } & C => ({ _tag: "Exclusive" as const, ...fields })

const broken = (rule: string, grant: GrantKind, requested: ReadonlyArray<string>, detail: string) =>
  Either.left(new ScopeError({ reason: "BreaksRule", rule, grant, requested, detail }))

const violation = <S extends string>(
  constraint: Constraint<S>,
  grant: GrantKind,
  requested: ReadonlyArray<S>
): string | undefined => {
  const has = (scope: S) => requested.includes(scope)
  switch (constraint._tag) {
    case "RequiresWhenAny": {
      if (!constraint.grants.includes(grant) || !constraint.trigger.some(has) || has(constraint.required)) return
      return `requesting ${constraint.trigger.filter(has).join(" ")} needs ${constraint.required} too: add it`
    }
    case "OnlyWithin": {
      if (!constraint.grants.includes(grant) || !constraint.trigger.some(has)) return
      const outside = requested.filter((scope) => !constraint.allowed.includes(scope))
      if (outside.length === 0) return
      return `with ${constraint.trigger.filter(has).join(" ")}, only ${constraint.allowed.join(" ")} may be ` +
        `requested: remove ${outside.join(" ")}`
    }
    case "Forbidden": {
      if (!constraint.grants.includes(grant)) return
      const bad = constraint.scopes === "all"
        ? requested
        : requested.filter((scope) => constraint.scopes.includes(scope))
      if (bad.length === 0) return
      return `${bad.join(" ")} cannot be requested with the ${grant} grant: remove it`
    }
    case "OnlyForGrants": {
      if (constraint.grants.includes(grant)) return
      const bad = requested.filter((scope) => constraint.scopes.includes(scope))
      if (bad.length === 0) return
      return `${bad.join(" ")} can only be requested with the ${constraint.grants.join(" or ")} grant: ` +
        "remove it, or use that grant"
    }
    case "Exclusive": {
      if (!constraint.grants.includes(grant) || requested.length < 2) return
      const alone = requested.filter((scope) => constraint.scopes.includes(scope))
      if (alone.length === 0) return
      return `${alone.join(" ")} must be requested alone: request it by itself, or drop it and name the scopes`
    }
  }
}

const unsafeSet = <S extends string>(scopes: ReadonlyArray<S>): ScopeSet<S> =>
  // Only called on tokens that passed the grammar check, so `fromIterable` cannot fail here.
  Either.getOrElse(fromIterable(scopes), () => empty)

/**
 * Checks the scopes requested with a grant against the policy, before anything is sent. Returns
 * the effective set (the request, or the grant's defaults when empty, plus the scopes the server
 * implies), or an `ScopeError` whose `rule` names the broken rule: `scope-grammar`,
 * `unknown-scope`, `explicit-scopes-required`, `grant-scope-not-allowed`, `grant-scope-forbidden`,
 * or a constraint's own name.
 *
 * @since 0.1.0
 * @category validation
 */
export const validate = <S extends string>(
  rules: ScopeRules<S>,
  grant: GrantKind,
  requested: ScopeSet<S>
): Either.Either<ScopeSet<S>, ScopeError> => {
  const values = requested.values
  const policy: GrantPolicy<S> = rules.grants[grant] ?? {}
  const badToken = values.find((scope) => !isScopeToken(scope))
  if (badToken !== undefined) {
    return broken(
      "scope-grammar",
      grant,
      values,
      `${
        JSON.stringify(badToken)
      } is not a valid scope token (printable ASCII without space, " or \\): fix or remove it`
    )
  }
  if (values.length === 0 && policy.explicit === true) {
    return broken(
      "explicit-scopes-required",
      grant,
      values,
      `the ${grant} grant has no default scopes: name the scopes to request`
    )
  }
  // Rules apply to what is actually sent: the grant's defaults when nothing was asked for.
  const asked = values.length === 0 ? unsafeSet(policy.defaults ?? []) : requested
  const sent = asked.values
  if (rules.known !== "any") {
    const known = rules.known
    const unknown = sent.filter((scope) => !known.includes(scope))
    if (unknown.length > 0) {
      return broken(
        "unknown-scope",
        grant,
        sent,
        `${unknown.join(" ")} is not a scope of this provider: use one of ${known.join(" ")}`
      )
    }
  }
  if (policy.allowed !== undefined) {
    const allowed = policy.allowed
    const outside = sent.filter((scope) => !allowed.includes(scope))
    if (outside.length > 0) {
      return broken(
        "grant-scope-not-allowed",
        grant,
        sent,
        `the ${grant} grant can only request ${allowed.join(" ")}: remove ${outside.join(" ")}`
      )
    }
  }
  if (policy.forbidden !== undefined) {
    const forbiddenScopes = policy.forbidden
    const bad = sent.filter((scope) => forbiddenScopes.includes(scope))
    if (bad.length > 0) {
      return broken(
        "grant-scope-forbidden",
        grant,
        sent,
        `${bad.join(" ")} cannot be requested with the ${grant} grant: remove it`
      )
    }
  }
  for (const constraint of rules.constraints) {
    const detail = violation(constraint, grant, sent)
    if (detail !== undefined) return broken(constraint.name, grant, sent, detail)
  }
  return Either.right(union(asked, unsafeSet(policy.implied ?? [])))
}

/**
 * A refresh may narrow the granted scopes, never widen them.
 *
 * @since 0.1.0
 * @category validation
 */
export const narrows = <S extends string>(
  granted: ScopeSet<S>,
  requested: ScopeSet<S>
): Either.Either<ScopeSet<S>, ScopeError> =>
  isSubset(requested, granted)
    ? Either.right(requested)
    : broken(
      "refresh-cannot-widen",
      "RefreshToken",
      requested.values,
      "a refresh can only keep or narrow the granted scopes: sign in again to get more"
    )

// ---------------------------------------------------------------------------------------------
// The same rules, read by the type checker. A preset declares its rules `as const`, so the
// constraints are literal data that these types can interpret: a literal scope request that
// `validate` would refuse is refused at compile time, naming the same rule.
// ---------------------------------------------------------------------------------------------

type ElementOf<T> = T extends ReadonlyArray<infer X> ? X : never

type Some<T> = [T] extends [never] ? false : true

type PolicyOf<Rules, G extends GrantKind> = Rules extends { readonly grants: infer Grants }
  ? G extends keyof Grants ? NonNullable<Grants[G]> : {}
  : {}

/**
 * The scopes sent for a request of `S`: `S`, or the grant's defaults when `S` is empty.
 *
 * @since 0.1.0
 * @category type-level
 */
export type Sent<Rules, G extends GrantKind, S extends string> = Some<S> extends true ? S
  : PolicyOf<Rules, G> extends { readonly defaults: infer D } ? ElementOf<D>
  : never

/**
 * The scopes a server grants for a request of `S` under `Rules`: what is sent, plus what the
 * grant implies (osu!'s `identify` for the authorization code grant).
 *
 * @since 0.1.0
 * @category type-level
 */
export type Granted<Rules, G extends GrantKind, S extends string> =
  | Sent<Rules, G, S>
  | (PolicyOf<Rules, G> extends { readonly implied: infer I } ? ElementOf<I> : never)

type ConstraintViolation<C, G extends GrantKind, S extends string> = C extends {
  readonly _tag: "RequiresWhenAny"
  readonly name: infer N
  readonly grants: infer Gs
  readonly trigger: infer T
  readonly required: infer Required
} ? G extends ElementOf<Gs> ? Some<Extract<S, ElementOf<T>>> extends true ? Required extends S ? never : N : never
  : never
  : C extends {
    readonly _tag: "OnlyWithin"
    readonly name: infer N
    readonly grants: infer Gs
    readonly trigger: infer T
    readonly allowed: infer A
  } ?
    G extends ElementOf<Gs> ?
      Some<Extract<S, ElementOf<T>>> extends true ? Some<Exclude<S, ElementOf<A>>> extends true ? N
        : never
      : never
    : never
  : C extends
    { readonly _tag: "Forbidden"; readonly name: infer N; readonly grants: infer Gs; readonly scopes: infer X }
    ? G extends ElementOf<Gs> ? (X extends "all" ? Some<S> : Some<Extract<S, ElementOf<X>>>) extends true ? N : never
    : never
  : C extends
    { readonly _tag: "OnlyForGrants"; readonly name: infer N; readonly grants: infer Gs; readonly scopes: infer X }
    ? G extends ElementOf<Gs> ? never : Some<Extract<S, ElementOf<X>>> extends true ? N : never
  : C extends
    { readonly _tag: "Exclusive"; readonly name: infer N; readonly grants: infer Gs; readonly scopes: infer X }
    ? G extends ElementOf<Gs> ? Some<Extract<S, ElementOf<X>>> extends true ? Several<S> extends true ? N : never
      : never
    : never
  : never

// Whether `S` holds two scopes or more: an exclusive scope must be the only one, whatever the other.
type Several<S extends string, All extends string = S> = true extends
  (S extends unknown ? Some<Exclude<All, S>> : never) ? true
  : false

// `S` is the request as asked (an empty one may need to be explicit); the other checks apply, as in
// `validate`, to what is sent: the grant's defaults when the request is empty.
type BuiltinViolation<Rules, G extends GrantKind, S extends string> =
  | (Some<S> extends true ? never : PolicyOf<Rules, G> extends { readonly explicit: true } ? "explicit-scopes-required"
  : never)
  | SentViolation<Rules, G, Sent<Rules, G, S>>

type SentViolation<Rules, G extends GrantKind, S extends string> =
  | (Rules extends { readonly known: infer K } ?
    K extends ReadonlyArray<string> ? Some<Exclude<S, ElementOf<K>>> extends true ? "unknown-scope" : never
    : never
    : never)
  | (PolicyOf<Rules, G> extends { readonly allowed: infer A } ?
    Some<Exclude<S, ElementOf<A>>> extends true ? "grant-scope-not-allowed" : never
    : never)
  | (PolicyOf<Rules, G> extends { readonly forbidden: infer F } ?
    Some<Extract<S, ElementOf<F>>> extends true ? "grant-scope-forbidden" : never
    : never)

/**
 * The names of the rules that a request of the literal scopes `S` with grant `G` breaks: the
 * type-level twin of {@link validate}. `never` when the request is valid, or when the types do not
 * know the scopes (`string`, or the provider's whole scope type), in which case only `validate`
 * can tell.
 *
 * @since 0.1.0
 * @category type-level
 */
export type Violations<Rules, G extends GrantKind, S extends string> = string extends S ? never
  : IsKnownType<Rules, S> extends true ? never
  : Rules extends { readonly constraints: infer Cs }
    ? BuiltinViolation<Rules, G, S> | Literal<ConstraintViolation<ElementOf<Cs>, G, Sent<Rules, G, S>>>
  : never

// A set typed with every scope of the provider (`ScopeSet<OsuScope>`) is a set whose members the
// types do not know: like `string`, it is left to `validate` at run time. (A literal request of
// exactly every known scope looks the same, and is left to run time too.)
type IsKnownType<Rules, S extends string> = Rules extends { readonly known: infer K }
  ? K extends ReadonlyArray<string> ? Some<Exclude<ElementOf<K>, S> | Exclude<S, ElementOf<K>>> extends true ? false
    : true
  : false
  : false

// Rules that are not literal data (`ScopeRules<string>`) tell the compiler nothing.
type Literal<N> = N extends string ? string extends N ? never : N : never

/**
 * `unknown` when a literal request is valid; otherwise an object type whose one property names
 * the broken rules, so the compiler's message says which rule a request breaks.
 *
 * @since 0.1.0
 * @category type-level
 */
export type Check<Rules, G extends GrantKind, S extends string> = [Violations<Rules, G, S>] extends [never] ? unknown
  : { readonly "invalid scope request: breaks the provider's rule": Violations<Rules, G, S> }
