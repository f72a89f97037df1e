/**
 * Token stores in the browser's Web Storage, on `@effect/platform-browser`'s `BrowserKeyValueStore`
 * and core's versioned format (a corrupt or foreign value reads as absent).
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
import * as BrowserKeyValueStore from "@effect/platform-browser/BrowserKeyValueStore"
import * as Layer from "effect/Layer"

/**
 * Tokens in `sessionStorage`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerSessionStorage = (
  options?: TokenStore.KeyValueStoreOptions
): Layer.Layer<TokenStore.TokenStore> =>
  TokenStore.layerKeyValueStore(options).pipe(Layer.provide(BrowserKeyValueStore.layerSessionStorage))

/**
 * Tokens in `localStorage`: readable by every script of the origin. Opt in knowingly.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerLocalStorage = (
  options?: TokenStore.KeyValueStoreOptions
): Layer.Layer<TokenStore.TokenStore> =>
  TokenStore.layerKeyValueStore(options).pipe(Layer.provide(BrowserKeyValueStore.layerLocalStorage))
