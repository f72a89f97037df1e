/**
 * What every error class of the library shares, written once: the `OAuthError` type id on the
 * prototype, a `_tag` under the library's own namespace, and a message computed from the fields.
 *
 * @internal
 */
import type * as Cause from "effect/Cause"
import * as Schema from "effect/Schema"

/** @internal */
export const TypeId: unique symbol = Symbol.for("@effect-oauth/core/OAuthError")

/** @internal */
export type TypeId = typeof TypeId

/** The namespace of every error tag: no other library's `_tag` can start with it. @internal */
export type Tag<Name extends string> = `@effect-oauth/${Name}`

/** The class an error extends: a `Schema.TaggedError` whose instances carry the type id. @internal */
export interface ErrorClass<Self, Name extends string, Fields extends Schema.Struct.Fields> extends
  Schema.Class<
    Self,
    { readonly _tag: Schema.tag<Tag<Name>> } & Fields,
    Schema.Struct.Encoded<{ readonly _tag: Schema.tag<Tag<Name>> } & Fields>,
    Schema.Struct.Context<Fields>,
    Schema.Struct.Constructor<Fields>,
    { readonly [TypeId]: TypeId },
    Cause.YieldableError
  >
{
  readonly _tag: Tag<Name>
}

/**
 * Makes the base class of one error: `name` becomes the tag `@effect-oauth/<name>` (also its
 * schema identifier), and `message` says what happened and what to do.
 *
 * @internal
 */
export const make = <Self>() =>
<Name extends string, Fields extends Schema.Struct.Fields>(
  name: Name,
  fields: Fields,
  message: (error: Schema.Struct.Type<Fields>) => string
): ErrorClass<Self, Name, Fields> => {
  const tag: Tag<Name> = `@effect-oauth/${name}`
  const Base = Schema.TaggedError<{ readonly _tag: Tag<Name> }>(tag)(tag, fields)
  Object.defineProperty(Base.prototype, TypeId, { value: TypeId })
  Object.defineProperty(Base.prototype, "message", {
    get(this: Schema.Struct.Type<Fields>) {
      return message(this)
    }
  })
  return Base as unknown as ErrorClass<Self, Name, Fields>
}
