/**
 * `Retry-After` (RFC 9110 §10.2.3), read once for the token endpoint and the authorized client.
 *
 * @internal
 */
import * as Option from "effect/Option"

/** Milliseconds to wait: the header is seconds, or an HTTP date. @internal */
export const parse = (value: string | undefined, now: number): Option.Option<number> => {
  if (value === undefined) return Option.none()
  const trimmed = value.trim()
  if (/^\d+$/.test(trimmed)) return Option.some(Number(trimmed) * 1000)
  const date = Date.parse(trimmed)
  return Number.isNaN(date) ? Option.none() : Option.some(Math.max(0, date - now))
}
