/**
 * Schema pieces shared by the domain classes.
 *
 * @internal
 */
import * as Option from "effect/Option"

/** The options of an optional field that reads as `None` when absent. @internal */
export interface NoneByDefault {
  /** `Option.none()` when the field is absent. */
  readonly default: () => Option.Option<never>
}

/** @internal */
export const noneByDefault: NoneByDefault = { default: () => Option.none() }
