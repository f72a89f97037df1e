/**
 * Token stores in the browser's Web Storage, in core's versioned format (a corrupt or foreign value
 * reads as absent).
 *
 * - `layerSessionStorage`: the tab's own storage; the session survives a reload of the tab and ends
 *   with it.
 * - `layerLocalStorage`: every tab of the origin, until logout. An explicit opt-in: any script that
 *   runs on the origin (an XSS, a compromised dependency) can read the refresh token there; see the
 *   package README.
 *
 * The default store of `BrowserOAuth.layer` is memory (`TokenStore.layerMemory`): the session ends
 * with the page, and nothing is written anywhere.
 *
 * @since 0.1.0
 */
import * as TokenStore from "@effect-oauth/core/TokenStore"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"

// `Storage` as a string key-value store; a refused call (storage disabled, quota exceeded) fails
// with a message that names the call and the key, never the value.
const overStorage = (name: string, storage: Storage): TokenStore.KeyValue => {
  const attempt = <A>(method: string, key: string, f: () => A) =>
    Effect.try({ try: f, catch: () => ({ message: `${name}.${method}(${key}) failed` }) })
  return {
    get: (key) => attempt("getItem", key, () => Option.fromNullable(storage.getItem(key))),
    set: (key, value) => attempt("setItem", key, () => storage.setItem(key, value)),
    remove: (key) => attempt("removeItem", key, () => storage.removeItem(key))
  }
}

const layerStorage = (
  name: "sessionStorage" | "localStorage",
  options?: TokenStore.KeyValueStoreOptions
): Layer.Layer<TokenStore.TokenStore> =>
  Layer.sync(TokenStore.TokenStore, () => TokenStore.fromKeyValue(overStorage(name, globalThis[name]), options))

/**
 * Tokens in `sessionStorage`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerSessionStorage = (
  options?: TokenStore.KeyValueStoreOptions
): Layer.Layer<TokenStore.TokenStore> => layerStorage("sessionStorage", options)

/**
 * Tokens in `localStorage`: readable by every script of the origin. Opt in knowingly.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerLocalStorage = (
  options?: TokenStore.KeyValueStoreOptions
): Layer.Layer<TokenStore.TokenStore> => layerStorage("localStorage", options)
