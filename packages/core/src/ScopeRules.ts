/**
 * A provider's scope policy as data. (Skeleton: being written.)
 *
 * @since 0.1.0
 */
import * as Either from "effect/Either"
import type { GrantKind } from "./Grant.js"
import type { InvalidScopeRequest } from "./OAuthError.js"
import type { ScopeSet } from "./Scopes.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface ScopeRules<S extends string> {
  readonly known: ReadonlyArray<S> | "any"
}

/**
 * @since 0.1.0
 * @category constructors
 */
export const permissive: ScopeRules<string> = { known: "any" }

/**
 * @since 0.1.0
 * @category validation
 */
export const validate = <S extends string>(
  _rules: ScopeRules<S>,
  _grant: GrantKind,
  requested: ScopeSet<S>
): Either.Either<ScopeSet<S>, InvalidScopeRequest> => Either.right(requested)
