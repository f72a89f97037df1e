/**
 * Scopes as data. A `ScopeSet<S>` is an immutable, sorted set of scope tokens with structural
 * equality; `S` is the union of scope names the set may hold, so a provider's sets are
 * literal-typed (`ScopeSet<OsuScope>`). The wire form is the RFC 6749 §3.3 space-delimited list.
 *
 * @since 0.1.0
 */
import * as Either from "effect/Either"
import * as Equal from "effect/Equal"
import { dual } from "effect/Function"
import * as Hash from "effect/Hash"
import { format as inspectFormat, NodeInspectSymbol } from "effect/Inspectable"
import * as ParseResult from "effect/ParseResult"
import type { Pipeable } from "effect/Pipeable"
import { pipeArguments } from "effect/Pipeable"
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"
import { ScopeError } from "./OAuthError.js"

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = Symbol.for("@effect-oauth/core/Scopes/ScopeSet")

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * An immutable set of scope tokens. `values` is sorted and free of duplicates, so two sets with the
 * same members are `Equal` and format to the same string.
 *
 * @since 0.1.0
 * @category models
 */
export interface ScopeSet<out S extends string = string> extends Equal.Equal, Pipeable {
  /** The scope type, for the type checker only. */
  readonly [TypeId]: {
    /** Covariant in the scope type. */
    readonly _S: (_: never) => S
  }
  readonly values: ReadonlyArray<S>
  readonly size: number
}

const Proto = {
  [TypeId]: { _S: (_: never) => _ },
  [Equal.symbol](this: ScopeSet, that: unknown): boolean {
    if (!isScopeSet(that) || that.size !== this.size) return false
    for (let i = 0; i < this.values.length; i++) {
      if (this.values[i] !== that.values[i]) return false
    }
    return true
  },
  [Hash.symbol](this: ScopeSet): number {
    return Hash.cached(this, Hash.array(this.values))
  },
  pipe() {
    // eslint-disable-next-line prefer-rest-params
    return pipeArguments(this, arguments)
  },
  toString(this: ScopeSet): string {
    return `ScopeSet(${this.values.join(" ")})`
  },
  toJSON(this: ScopeSet) {
    return { _id: "ScopeSet", values: this.values }
  },
  [NodeInspectSymbol](this: ScopeSet) {
    return { _id: "ScopeSet", values: this.values }
  }
}

const unsafeFromSorted = <S extends string>(values: ReadonlyArray<S>): ScopeSet<S> => {
  const self = Object.create(Proto)
  self.values = values
  self.size = values.length
  return self
}

const compare = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)

const normalize = <S extends string>(values: Iterable<S>): ScopeSet<S> =>
  unsafeFromSorted(Array.from(new Set(values)).sort(compare))

/**
 * Whether a value is a `ScopeSet`.
 *
 * @since 0.1.0
 * @category guards
 */
export const isScopeSet = (u: unknown): u is ScopeSet<string> => Predicate.hasProperty(u, TypeId)

/**
 * Whether a string is a scope token by the RFC 6749 §3.3 grammar:
 * `1*( %x21 / %x23-5B / %x5D-7E )`.
 *
 * @since 0.1.0
 * @category guards
 */
export const isScopeToken = (token: string): boolean => /^[\x21\x23-\x5B\x5D-\x7E]+$/.test(token)

/**
 * The empty set.
 *
 * @since 0.1.0
 * @category constructors
 */
export const empty: ScopeSet<never> = unsafeFromSorted([])

/**
 * A set of known scope names, such as a provider's literal scopes: `Scopes.make("public", "identify")`.
 * Use {@link fromIterable} or {@link parse} for scopes that come from outside the program.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <const S extends ReadonlyArray<string>>(...scopes: S): ScopeSet<S[number]> => normalize(scopes)

/**
 * A set from scope names of unknown origin, each checked against the RFC 6749 §3.3 grammar.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromIterable = <S extends string>(scopes: Iterable<S>): Either.Either<ScopeSet<S>, ScopeError> => {
  const values = Array.from(scopes)
  for (const token of values) {
    if (!isScopeToken(token)) return Either.left(new ScopeError({ reason: "Malformed", scope: token }))
  }
  return Either.right(normalize(values))
}

/**
 * Parses the space-delimited wire form (`"public identify"`). Runs of spaces and leading or
 * trailing spaces are tolerated; any other character outside the grammar is an
 * `ScopeError` (reason `Malformed`). Never throws.
 *
 * @since 0.1.0
 * @category parsing
 */
export const parse = (input: string): Either.Either<ScopeSet<string>, ScopeError> =>
  fromIterable(input.split(" ").filter((token) => token.length > 0))

/**
 * The space-delimited wire form, in sorted order.
 *
 * @since 0.1.0
 * @category formatting
 */
export const format = (self: ScopeSet<string>): string => self.values.join(" ")

/**
 * Whether a set holds a scope.
 *
 * @since 0.1.0
 * @category predicates
 */
export const has: {
  (scope: string): (self: ScopeSet<string>) => boolean
  (self: ScopeSet<string>, scope: string): boolean
} = dual(2, (self: ScopeSet<string>, scope: string): boolean => self.values.includes(scope))

/**
 * The scopes in either set.
 *
 * @since 0.1.0
 * @category combinators
 */
export const union = <A extends string, B extends string>(self: ScopeSet<A>, that: ScopeSet<B>): ScopeSet<A | B> =>
  normalize<A | B>([...self.values, ...that.values])

/**
 * The scopes in both sets.
 *
 * @since 0.1.0
 * @category combinators
 */
export const intersection = <A extends string, B extends string>(
  self: ScopeSet<A>,
  that: ScopeSet<B>
): ScopeSet<A & B> => unsafeFromSorted(self.values.filter((scope) => that.values.includes(scope as never)) as never)

/**
 * The scopes of `self` that are not in `that`.
 *
 * @since 0.1.0
 * @category combinators
 */
export const difference = <A extends string>(self: ScopeSet<A>, that: ScopeSet<string>): ScopeSet<A> =>
  unsafeFromSorted(self.values.filter((scope) => !that.values.includes(scope)))

/**
 * Whether every scope of `self` is in `that`.
 *
 * @since 0.1.0
 * @category predicates
 */
export const isSubset = (self: ScopeSet<string>, that: ScopeSet<string>): boolean =>
  self.values.every((scope) => that.values.includes(scope))

/**
 * A schema for `ScopeSet` values themselves.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ScopeSetFromSelf: Schema.Schema<ScopeSet<string>> = /* @__PURE__ */ Schema.declare(isScopeSet, {
  identifier: "ScopeSet",
  pretty: () => (self) => inspectFormat(self.values)
})

/**
 * A schema from the space-delimited wire form to a `ScopeSet`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ScopeSetFromString: Schema.Schema<ScopeSet<string>, string> = /* @__PURE__ */ Schema.transformOrFail(
  Schema.String,
  ScopeSetFromSelf,
  {
    strict: true,
    decode: (input, _, ast) => Either.mapLeft(parse(input), (error) => new ParseResult.Type(ast, input, error.message)),
    encode: (set) => ParseResult.succeed(format(set))
  }
).annotations({ identifier: "ScopeSetFromString" })
