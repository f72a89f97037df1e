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
import { InvalidScopeRequest } from "./OAuthError.js"
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
 * A named rule over the requested scopes of some grants.
 *
 * @since 0.1.0
 * @category models
 */
export type Constraint<S extends string> =
  | {
    /** If any `trigger` scope is requested, `required` must be requested too. */
    readonly _tag: "RequiresWhenAny"
    readonly name: string
    readonly grants: ReadonlyArray<GrantKind>
    readonly trigger: ReadonlyArray<S>
    readonly required: S
  }
  | {
    /** If any `trigger` scope is requested, every requested scope must be among `allowed`. */
    readonly _tag: "OnlyWithin"
    readonly name: string
    readonly grants: ReadonlyArray<GrantKind>
    readonly trigger: ReadonlyArray<S>
    readonly allowed: ReadonlyArray<S>
  }
  | {
    /** These scopes may not be requested with these grants. */
    readonly _tag: "Forbidden"
    readonly name: string
    readonly grants: ReadonlyArray<GrantKind>
    readonly scopes: ReadonlyArray<S> | "all"
  }
  | {
    /** These scopes may be requested only with these grants. */
    readonly _tag: "OnlyForGrants"
    readonly name: string
    readonly scopes: ReadonlyArray<S>
    readonly grants: ReadonlyArray<GrantKind>
  }

/**
 * A provider's scope policy.
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

/**
 * A named constraint: If any `trigger` scope is requested with one of `grants`, `required` must be requested too.
 *
 * @since 0.1.0
 * @category constructors
 */
export const requiresWhenAny = <const S extends string>(
  name: string,
  grants: ReadonlyArray<GrantKind>,
  trigger: ReadonlyArray<S>,
  required: S
): Constraint<S> => ({ _tag: "RequiresWhenAny", name, grants, trigger, required })

/**
 * A named constraint: If any `trigger` scope is requested with one of `grants`, every requested scope must be in `allowed`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const onlyWithin = <const S extends string>(
  name: string,
  grants: ReadonlyArray<GrantKind>,
  trigger: ReadonlyArray<S>,
  allowed: ReadonlyArray<S>
): Constraint<S> => ({ _tag: "OnlyWithin", name, grants, trigger, allowed })

/**
 * A named constraint: `scopes` (or `"all"` scopes) may not be requested with `grants`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const forbidden = <const S extends string>(
  name: string,
  grants: ReadonlyArray<GrantKind>,
  scopes: ReadonlyArray<S> | "all"
): Constraint<S> => ({ _tag: "Forbidden", name, grants, scopes })

/**
 * A named constraint: `scopes` may be requested only with `grants`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const onlyForGrants = <const S extends string>(
  name: string,
  scopes: ReadonlyArray<S>,
  grants: ReadonlyArray<GrantKind>
): Constraint<S> => ({ _tag: "OnlyForGrants", name, scopes, grants })

const broken = (rule: string, grant: GrantKind, requested: ReadonlyArray<string>, detail: string) =>
  Either.left(new InvalidScopeRequest({ rule, grant, requested, detail }))

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
      return `${bad.join(" ")} can only be requested with the ${constraint.grants.join(" or ")} grant`
    }
  }
}

const unsafeSet = <S extends string>(scopes: ReadonlyArray<S>): ScopeSet<S> =>
  // Only called on tokens that passed the grammar check, so `fromIterable` cannot fail here.
  Either.getOrElse(fromIterable(scopes), () => empty)

/**
 * Checks the scopes requested with a grant against the policy, before anything is sent. Returns
 * the effective set (the request, or the grant's defaults when empty, plus the scopes the server
 * implies), or an `InvalidScopeRequest` whose `rule` names the broken rule: `scope-grammar`,
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
): Either.Either<ScopeSet<S>, InvalidScopeRequest> => {
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
): Either.Either<ScopeSet<S>, InvalidScopeRequest> =>
  isSubset(requested, granted)
    ? Either.right(requested)
    : broken(
      "refresh-cannot-widen",
      "RefreshToken",
      requested.values,
      "a refresh can only keep or narrow the granted scopes: sign in again to get more"
    )
