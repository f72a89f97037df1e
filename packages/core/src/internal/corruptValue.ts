// The warning a store logs when the value under a key cannot be read (and is treated as absent): it
// names the key and the problem, never the value.
import * as Effect from "effect/Effect"

export const logCorrupt = (key: string, detail: string): Effect.Effect<void> =>
  Effect.logWarning(`corrupt value under key ${JSON.stringify(key)} ignored: ${detail}`)
