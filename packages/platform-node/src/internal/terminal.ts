/**
 * Text from a server made safe to print to a terminal: escape sequences could rewrite the screen,
 * retitle the window or forge a link, and a newline could forge a line of instructions.
 *
 * @internal
 */

const esc = 0x1b
const bel = 0x07
// 8-bit forms: CSI, the string openers DCS, SOS, OSC, PM and APC, and ST, which ends a string.
const c1Csi = 0x9b
const c1St = 0x9c
const c1Strings = new Set([0x90, 0x98, 0x9d, 0x9e, 0x9f])
// After ESC, the 7-bit forms of the same: `[` is CSI; `P`, `X`, `]`, `^` and `_` open strings.
const escStrings = new Set(["P", "X", "]", "^", "_"])

const inRange = (text: string, i: number, low: number, high: number) =>
  i < text.length && text.charCodeAt(i) >= low && text.charCodeAt(i) <= high

const isControl = (code: number) =>
  code < 0x20 || (code >= 0x7f && code < 0xa0) ||
  // Bidirectional overrides and isolates reorder what is shown: a URI could read as another.
  (code >= 0x202a && code <= 0x202e) || (code >= 0x2066 && code <= 0x2069)

// Past a sequence's tail: parameter bytes, intermediate bytes, then one final byte in `final`.
const afterTail = (text: string, from: number, parameters: boolean, finalLow: number) => {
  let i = from
  while (parameters && inRange(text, i, 0x30, 0x3f)) i++
  while (inRange(text, i, 0x20, 0x2f)) i++
  return inRange(text, i, finalLow, 0x7e) ? i + 1 : i
}

// Past a control string (OSC, DCS, …): its terminator, or the end of the text when it has none,
// since a terminal would swallow everything up to one.
const afterString = (text: string, from: number) => {
  for (let i = from; i < text.length; i++) {
    const code = text.charCodeAt(i)
    if (code === bel || code === c1St) return i + 1
    if (code === esc && text[i + 1] === "\\") return i + 2
  }
  return text.length
}

// Past the escape sequence that starts at `from`, or -1 when none starts there.
const afterEscape = (text: string, from: number) => {
  const code = text.charCodeAt(from)
  if (code === c1Csi) return afterTail(text, from + 1, true, 0x40)
  if (c1Strings.has(code)) return afterString(text, from + 1)
  if (code !== esc) return -1
  const next = text[from + 1]
  if (next === "[") return afterTail(text, from + 2, true, 0x40)
  if (next !== undefined && escStrings.has(next)) return afterString(text, from + 2)
  return afterTail(text, from + 1, false, 0x30)
}

/**
 * The text without control characters (C0, DEL, C1), whole escape sequences (CSI, OSC and the
 * other control strings, in 7-bit and 8-bit form) and bidirectional overrides.
 *
 * @internal
 */
export const printable = (text: string): string => {
  let out = ""
  let i = 0
  while (i < text.length) {
    const after = afterEscape(text, i)
    if (after > i) {
      i = after
      continue
    }
    if (!isControl(text.charCodeAt(i))) out += text[i]
    i++
  }
  return out
}
