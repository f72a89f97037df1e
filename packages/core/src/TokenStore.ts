/**
 * Where tokens are kept between runs, by key (one key per token slot). The `TokenStore` service reads,
 * writes and removes tokens; a write can be made conditional on the version it replaces, so two
 * processes sharing one store refresh once between them: the loser of the race sees `false`, re-reads
 * and adopts the winner's token instead of spending its own (already rotated) refresh token.
 *
 * Drivers: `layerMemory` (the default, tokens live as long as the process), `layerKeyValueStore` (on
 * `@effect/platform`'s `KeyValueStore`, in a versioned JSON format) and `layerCallbacks` (the
 * application's own persistence, e.g. its database: the token-provider and on-token-update hooks of
 * other OAuth SDKs).
 *
 * @since 0.1.0
 */
import * as KeyValueStore from "@effect/platform/KeyValueStore"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Equal from "effect/Equal"
import * as HashMap from "effect/HashMap"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Predicate from "effect/Predicate"
import * as Ref from "effect/Ref"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import { logCorrupt } from "./internal/corruptValue.js"
import * as encryptedStore from "./internal/encryptedStore.js"
import type { ConfigurationError } from "./OAuthError.js"
import { StoreError } from "./OAuthError.js"
import { Token } from "./Token.js"

/**
 * What a write expects to replace: nothing (`Absent`), or a stored token of the given `version`.
 * Every write is conditional: a writer says what it read.
 *
 * @since 0.1.0
 * @category models
 */
export type Expectation =
  | { readonly _tag: "Absent" }
  | { readonly _tag: "Version"; readonly version: number }

/**
 * The answer to a compare-and-set: `Written`, or `Conflict` with what the store holds instead, so
 * the writer can adopt it or write again against it without another read.
 *
 * @since 0.1.0
 * @category models
 */
export type SetResult =
  | { readonly _tag: "Written" }
  | { readonly _tag: "Conflict"; readonly current: Option.Option<Token> }

/**
 * The write happened.
 *
 * @since 0.1.0
 * @category constructors
 */
export const written: SetResult = { _tag: "Written" }

/**
 * The store holds `current`, not what the writer expected.
 *
 * @since 0.1.0
 * @category constructors
 */
export const conflict = (current: Option.Option<Token>): SetResult => ({ _tag: "Conflict", current })

/**
 * Persistent token storage, by key.
 *
 * @since 0.1.0
 * @category tags
 */
export class TokenStore extends Context.Tag("@effect-oauth/core/TokenStore")<TokenStore, TokenStore.Service>() {}

/**
 * @since 0.1.0
 * @category models
 */
export declare namespace TokenStore {
  /**
   * @since 0.1.0
   * @category models
   */
  export interface Service {
    /** The token stored under `key`; a stored value that cannot be read is absent. */
    readonly get: (key: string) => Effect.Effect<Option.Option<Token>, StoreError>
    /**
     * A compare-and-set: writes `token` under `key` only if the stored value is what `expected`
     * says — `{ _tag: "Absent" }` (nothing stored) or `{ _tag: "Version", version }` (the stored
     * token has that version) — and answers `Written`, or `Conflict` with the stored value. The
     * previous value is replaced atomically.
     */
    readonly set: (key: string, token: Token, expected: Expectation) => Effect.Effect<SetResult, StoreError>
    /**
     * Removes the token under `key` if the stored value is what `expected` says (removing a missing
     * key with `Absent` expected is `Written`); otherwise `Conflict` with the stored value.
     */
    readonly remove: (key: string, expected: Expectation) => Effect.Effect<SetResult, StoreError>
    /**
     * Runs a refresh of the slot `key` while holding a lock that other processes (or browser tabs)
     * sharing the store respect, so they refresh once between them and never spend a rotated
     * refresh token twice. Stores shared by one process only leave it out: `OAuthClient` already
     * runs one refresh at a time per slot.
     */
    readonly withRefreshLock?: <A, E>(
      key: string,
      refresh: Effect.Effect<A, E>
    ) => Effect.Effect<A, E | StoreError>
  }
}

/**
 * The expectation that holds for `current`: `Absent` for none, else its version.
 *
 * @since 0.1.0
 * @category constructors
 */
export const expectationOf = (current: Option.Option<Token>): Expectation =>
  Option.match(current, {
    onNone: () => ({ _tag: "Absent" }),
    onSome: (token) => ({ _tag: "Version", version: token.version })
  })

/**
 * Whether `current` is what `expected` describes.
 *
 * @since 0.1.0
 * @category predicates
 */
export const matches = (current: Option.Option<Token>, expected: Expectation): boolean =>
  expected._tag === "Absent"
    ? Option.isNone(current)
    : Option.isSome(current) && current.value.version === expected.version

// -----------------------------------------------------------------------------
// stored format
// -----------------------------------------------------------------------------

// The `format` tag of a stored token, and the version of the stored format this release writes and reads.
const storedFormat = "effect-oauth/token" as const

const storedVersion = 1 as const

/**
 * The stored form of a token: `{ "format": "effect-oauth/token", "v": 1, "token": <Token encoded> }`,
 * serialized as JSON. The encoded token holds its secrets as plain strings, so whatever holds this
 * value must be protected like the tokens themselves.
 *
 * @since 0.1.0
 * @category encoding
 */
export const StoredToken = Schema.Struct({
  format: Schema.Literal(storedFormat),
  v: Schema.Literal(storedVersion),
  token: Token
})

/**
 * Why a stored value could not be read (or a token could not be stored). `detail` names the problem
 * and, for an invalid token, the paths of the offending fields; it never holds any stored value, so
 * it is safe to log.
 *
 * @since 0.1.0
 * @category encoding
 */
export interface StoredTokenProblem {
  readonly reason: "NotJson" | "UnknownFormat" | "UnknownVersion" | "InvalidToken"
  readonly detail: string
}

const issueWords: Record<ParseResult.ParseIssue["_tag"], string> = {
  Missing: "missing",
  Unexpected: "unexpected",
  Forbidden: "forbidden",
  Type: "of the wrong type or value",
  Refinement: "invalid",
  Transformation: "invalid",
  Composite: "invalid",
  Pointer: "invalid"
}

const formatPath = (path: ReadonlyArray<PropertyKey>): string =>
  path.map((segment) => typeof segment === "number" ? `[${segment}]` : `.${String(segment)}`).join("")

// Only the issue kinds and paths (field names of the schema) leave here: a ParseError's message
// quotes the actual input, which for a token includes its secrets.
const describeParseError = (error: ParseResult.ParseError, root: string): string => {
  const issues = ParseResult.ArrayFormatter.formatErrorSync(error)
  const described = issues.slice(0, 8).map((issue) => `${root}${formatPath(issue.path)} is ${issueWords[issue._tag]}`)
  return described.join("; ") +
    (issues.length > described.length ? `; and ${issues.length - described.length} more` : "")
}

const decodeToken = Schema.decodeUnknownEither(Token, { errors: "all" })
const encodeToken = Schema.encodeEither(Token)

/**
 * Reads a stored value (the JSON text {@link encodeStored} wrote). A value that is not JSON, not in
 * this format, of an unknown format version, or whose token is partial or invalid, is a problem
 * rather than a token; callers treat it as absent and log the problem's `detail`.
 *
 * @since 0.1.0
 * @category encoding
 */
export const decodeStored = (text: string): Either.Either<Token, StoredTokenProblem> => {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    // The SyntaxError's message quotes the input: it is dropped.
    return Either.left({ reason: "NotJson", detail: "not JSON" })
  }
  if (!Predicate.isRecord(json) || json.format !== storedFormat) {
    return Either.left({
      reason: "UnknownFormat",
      detail: `not a stored token (the "format" is not "${storedFormat}")`
    })
  }
  if (json.v !== storedVersion) {
    const version = Number.isSafeInteger(json.v) ? ` ${String(json.v)}` : ""
    return Either.left({
      reason: "UnknownVersion",
      detail: `unknown format version${version} (this release reads version ${storedVersion})`
    })
  }
  if (json.token === undefined) return Either.left({ reason: "InvalidToken", detail: "token is missing" })
  return Either.mapLeft(
    decodeToken(json.token),
    (error): StoredTokenProblem => ({ reason: "InvalidToken", detail: describeParseError(error, "token") })
  )
}

/**
 * The stored form of a token, as JSON text (see {@link StoredToken}). A token that would not read
 * back as itself (say, one holding a number JSON cannot represent, such as `NaN`) is a problem
 * rather than a value, so a store never writes what it cannot read back.
 *
 * @since 0.1.0
 * @category encoding
 */
export const encodeStored = (token: Token): Either.Either<string, StoredTokenProblem> =>
  Either.flatMap(
    Either.mapLeft(encodeToken(token), (error): StoredTokenProblem => ({
      reason: "InvalidToken",
      detail: describeParseError(error, "token")
    })),
    (encoded) => {
      const text = JSON.stringify({ format: storedFormat, v: storedVersion, token: encoded })
      const decoded = decodeStored(text)
      return Either.isRight(decoded) && Equal.equals(decoded.right, token)
        ? Either.right(text)
        : Either.left({
          reason: "InvalidToken",
          detail: "the token does not survive a round trip through JSON (a number that is not finite?)"
        })
    }
  )

/**
 * Reads the stored value under `key` (see {@link decodeStored}), for store drivers: a value that
 * cannot be read is absent, and a warning that names the key and the problem, never the value, is
 * logged.
 *
 * @since 0.1.0
 * @category encoding
 */
export const readStored = (key: string, text: string): Effect.Effect<Option.Option<Token>> =>
  Either.match(decodeStored(text), {
    onLeft: (problem) => Effect.as(logCorrupt(key, problem.detail), Option.none<Token>()),
    onRight: Effect.succeedSome
  })

// -----------------------------------------------------------------------------
// in-process locking
// -----------------------------------------------------------------------------

/**
 * A lock per key within this process, for store drivers: a key's entry exists only while a fiber
 * holds or awaits its lock, so the table stays as small as the set of keys being written now.
 *
 * @since 0.1.0
 * @category models
 */
export interface KeyedLock {
  /** Holds the lock of `key` until the scope closes; waiting for it can be interrupted. */
  readonly take: (key: string) => Effect.Effect<void, never, Scope.Scope>
  /** Runs `self` holding the lock of `key`. */
  readonly withLock: (key: string) => <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
}

/**
 * A new {@link KeyedLock}.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeKeyedLock = (): KeyedLock => {
  const entries = new Map<string, { readonly semaphore: Effect.Semaphore; users: number }>()
  const enter = (key: string) => {
    let entry = entries.get(key)
    if (entry === undefined) {
      entry = { semaphore: Effect.unsafeMakeSemaphore(1), users: 0 }
      entries.set(key, entry)
    }
    entry.users++
    return entry
  }
  const leave = (key: string, entry: { users: number }) =>
    Effect.sync(() => {
      entry.users--
      if (entry.users === 0 && entries.get(key) === entry) entries.delete(key)
    })
  return {
    take: (key) =>
      Effect.uninterruptibleMask((restore) =>
        Effect.gen(function*() {
          const entry = enter(key)
          yield* Effect.addFinalizer(() => leave(key, entry))
          yield* restore(entry.semaphore.take(1))
          yield* Effect.addFinalizer(() => entry.semaphore.release(1))
        })
      ),
    withLock: (key) => (self) =>
      Effect.acquireUseRelease(
        Effect.sync(() => enter(key)),
        (entry) => entry.semaphore.withPermits(1)(self),
        (entry) => leave(key, entry)
      )
  }
}

/**
 * The compare-and-set of a driver whose storage has none (run it under the key's lock): reads the
 * key, and writes only when what it read is what the writer expected; otherwise answers `Conflict`
 * with what it read.
 *
 * @since 0.1.0
 * @category combinators
 */
export const writeIfExpected = <E, R>(
  read: Effect.Effect<Option.Option<Token>, E, R>,
  expected: Expectation,
  write: Effect.Effect<void, E, R>
): Effect.Effect<SetResult, E, R> =>
  Effect.flatMap(
    read,
    (current) => matches(current, expected) ? Effect.as(write, written) : Effect.succeed(conflict(current))
  )

// -----------------------------------------------------------------------------
// memory
// -----------------------------------------------------------------------------

/**
 * A store in memory: tokens live as long as the service. Every operation is a single atomic `Ref`
 * update, so conditional writes are exact between fibers.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeMemory: Effect.Effect<TokenStore.Service> = /* @__PURE__ */ Effect.map(
  Ref.make(HashMap.empty<string, Token>()),
  (ref) =>
    TokenStore.of({
      get: (key) => Effect.map(Ref.get(ref), HashMap.get(key)),
      set: (key, token, expected) =>
        Ref.modify(ref, (map) => {
          const current = HashMap.get(map, key)
          return matches(current, expected) ? [written, HashMap.set(map, key, token)] : [conflict(current), map]
        }),
      remove: (key, expected) =>
        Ref.modify(ref, (map) => {
          const current = HashMap.get(map, key)
          return matches(current, expected) ? [written, HashMap.remove(map, key)] : [conflict(current), map]
        })
    })
)

/**
 * The in-memory store.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory: Layer.Layer<TokenStore> = /* @__PURE__ */ Layer.effect(TokenStore, makeMemory)

// -----------------------------------------------------------------------------
// KeyValueStore
// -----------------------------------------------------------------------------

/**
 * @since 0.1.0
 * @category models
 */
export interface KeyValueStoreOptions {
  /** Prepended to every key in the `KeyValueStore`; default `"effect-oauth/token/"`. */
  readonly prefix?: string | undefined
}

/**
 * The three operations of a string key-value store that {@link fromKeyValue} writes on: a
 * `KeyValueStore` has them, and so does a thin wrapper of the browser's `Storage`.
 *
 * @since 0.1.0
 * @category models
 */
export interface KeyValue {
  /** The value under `key`, if any. */
  readonly get: (key: string) => Effect.Effect<Option.Option<string>, { readonly message: string }>
  /** Writes `value` under `key`. */
  readonly set: (key: string, value: string) => Effect.Effect<void, { readonly message: string }>
  /** Removes `key`. */
  readonly remove: (key: string) => Effect.Effect<void, { readonly message: string }>
}

// Locks are shared by every TokenStore built over the same KeyValueStore instance, so two layers
// over one store (say, two clients built separately) still write atomically between them.
const keyValueStoreLocks = new WeakMap<KeyValue, KeyedLock>()

const lockFor = (store: KeyValue): KeyedLock => {
  let lock = keyValueStoreLocks.get(store)
  if (lock === undefined) {
    lock = makeKeyedLock()
    keyValueStoreLocks.set(store, lock)
  }
  return lock
}

// A store's error message (a PlatformError's names the module, method, reason and path) never
// holds the value written.
const platformFailure = (operation: StoreError["reason"]) => (error: { readonly message: string }) =>
  new StoreError({ reason: operation, detail: `the key-value store failed: ${error.message}` })

const unstorable = (problem: StoredTokenProblem) =>
  new StoreError({ reason: "Set", detail: `the token cannot be stored: ${problem.detail}` })

/**
 * The store on `@effect/platform`'s `KeyValueStore` of the context (see {@link fromKeyValue}).
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeKeyValueStore = (
  options?: KeyValueStoreOptions
): Effect.Effect<TokenStore.Service, never, KeyValueStore.KeyValueStore> =>
  Effect.map(KeyValueStore.KeyValueStore, (store) => fromKeyValue(store, options))

/**
 * A store on a string key-value store (`@effect/platform`'s `KeyValueStore`: a directory,
 * `localStorage`, …), one entry per key in the {@link StoredToken} JSON format. A value that cannot
 * be read (corrupt, partial, another format or an unknown format version) is absent, with a warning
 * that never shows the value.
 *
 * Each write is one `KeyValueStore.set`, so a value is replaced as atomically as the underlying store
 * replaces it. Conditional writes read, compare and write under a per-key lock, which makes them
 * atomic within this process only: a `KeyValueStore` has no compare-and-set. Stores shared between processes
 * need their own locking (the Node file store takes a lock file, the browser store a Web Lock).
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromKeyValue = (store: KeyValue, options?: KeyValueStoreOptions): TokenStore.Service => {
  const prefix = options?.prefix ?? "effect-oauth/token/"
  const lock = lockFor(store)

  const read = (operation: StoreError["reason"], key: string) =>
    store.get(key).pipe(
      Effect.mapError(platformFailure(operation)),
      Effect.flatMap(Option.match({
        onNone: () => Effect.succeedNone,
        onSome: (text) => readStored(key, text)
      }))
    )

  return TokenStore.of({
    get: (key) => read("Get", prefix + key),
    set: (key, token, expected) =>
      Either.match(encodeStored(token), {
        onLeft: (problem) => Effect.fail(unstorable(problem)),
        onRight: (text) => {
          const fullKey = prefix + key
          return lock.withLock(fullKey)(
            writeIfExpected(
              read("Set", fullKey),
              expected,
              Effect.mapError(store.set(fullKey, text), platformFailure("Set"))
            )
          )
        }
      }),
    remove: (key, expected) => {
      const fullKey = prefix + key
      return lock.withLock(fullKey)(
        writeIfExpected(
          read("Remove", fullKey),
          expected,
          Effect.mapError(store.remove(fullKey), platformFailure("Remove"))
        )
      )
    }
  })
}

/**
 * The store on `@effect/platform`'s `KeyValueStore` (see {@link fromKeyValue}).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerKeyValueStore = (
  options?: KeyValueStoreOptions
): Layer.Layer<TokenStore, never, KeyValueStore.KeyValueStore> => Layer.effect(TokenStore, makeKeyValueStore(options))

// -----------------------------------------------------------------------------
// callbacks
// -----------------------------------------------------------------------------

/**
 * The application's own persistence, as three callbacks:
 *
 * - `load(key)` answers the token stored under `key`, or `Option.none()`. (Keep the JSON text of
 *   {@link encodeStored} in a text column and read it back with {@link decodeStored}.)
 * - `save(key, token)` stores the token, or deletes the key for `Option.none()`. It is called only
 *   after `load` under a per-key lock, when the stored value is what the writer expected.
 * - `saveIf(key, token, expected)`, optional: a compare-and-set in the storage itself (e.g.
 *   `UPDATE … WHERE version = ?`, or a delete with the same condition for `Option.none()`), answering
 *   whether it wrote. When given, it is called for every write instead of the `load` + `save` pair:
 *   give it when several processes share the storage, since the per-key lock holds within one
 *   process only.
 *
 * @since 0.1.0
 * @category models
 */
export interface CallbacksOptions<E = never, R = never> {
  /** The token stored under `key`, or `Option.none()`. */
  readonly load: (key: string) => Effect.Effect<Option.Option<Token>, E, R>
  /** Stores the token under `key`, or deletes the key for `Option.none()`. */
  readonly save: (key: string, token: Option.Option<Token>) => Effect.Effect<void, E, R>
  /** A compare-and-set in the storage itself: whether it wrote (see above). */
  readonly saveIf?:
    | ((key: string, token: Option.Option<Token>, expected: Expectation) => Effect.Effect<boolean, E, R>)
    | undefined
}

// The callback's error may quote what it was given (a database error echoing a row), so only its
// tag, a class name, goes into the message. Interruption passes through.
const guardCallback =
  (operation: StoreError["reason"], callback: string) =>
  <A, E>(self: Effect.Effect<A, E>): Effect.Effect<A, StoreError> =>
    self.pipe(
      Effect.catchAll((error) =>
        Effect.fail(
          new StoreError({
            reason: operation,
            detail: Predicate.hasProperty(error, "_tag") && typeof error._tag === "string"
              ? `the ${callback} callback failed with ${error._tag}`
              : `the ${callback} callback failed`
          })
        )
      ),
      Effect.catchAllDefect(() =>
        Effect.fail(new StoreError({ reason: operation, detail: `the ${callback} callback failed with a defect` }))
      )
    )

/**
 * A store on the application's own persistence. Failures of the callbacks (errors and defects)
 * become `StoreError`s whose messages carry no token.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeCallbacks = <E = never, R = never>(
  options: CallbacksOptions<E, R>
): Effect.Effect<TokenStore.Service, never, R> =>
  Effect.map(Effect.context<R>(), (context) => {
    const lock = makeKeyedLock()
    const load = (operation: StoreError["reason"], key: string) =>
      Effect.suspend(() => options.load(key)).pipe(Effect.provide(context), guardCallback(operation, "load"))
    const save = (operation: StoreError["reason"], key: string, token: Option.Option<Token>) =>
      Effect.suspend(() => options.save(key, token)).pipe(Effect.provide(context), guardCallback(operation, "save"))
    const saveIf = options.saveIf
    const write = (
      operation: StoreError["reason"],
      key: string,
      token: Option.Option<Token>,
      expected: Expectation
    ): Effect.Effect<SetResult, StoreError> =>
      saveIf !== undefined
        ? Effect.suspend(() => saveIf(key, token, expected)).pipe(
          Effect.provide(context),
          guardCallback(operation, "saveIf"),
          Effect.flatMap((done) => done ? Effect.succeed(written) : Effect.map(load(operation, key), conflict))
        )
        : lock.withLock(key)(writeIfExpected(load(operation, key), expected, save(operation, key, token)))
    return TokenStore.of({
      get: (key) => load("Get", key),
      set: (key, token, expected) => write("Set", key, Option.some(token), expected),
      remove: (key, expected) => write("Remove", key, Option.none(), expected)
    })
  })

/**
 * The store on the application's own persistence (see {@link makeCallbacks}).
 *
 * @example
 * ```ts
 * import { TokenStore } from "@effect-oauth/core"
 * import { Effect, Either, Option } from "effect"
 *
 * const rows = new Map<string, string>() // stands for a database table
 * const layer = TokenStore.layerCallbacks({
 *   load: (key) =>
 *     Effect.sync(() => {
 *       const text = rows.get(key)
 *       return text === undefined ? Option.none() : Either.getRight(TokenStore.decodeStored(text))
 *     }),
 *   save: (key, token) =>
 *     Effect.sync(() =>
 *       Option.match(token, {
 *         onNone: () => rows.delete(key),
 *         onSome: (token) => rows.set(key, TokenStore.encodeStored(token).pipe(Either.getOrThrow))
 *       })
 *     )
 * })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerCallbacks = <E = never, R = never>(
  options: CallbacksOptions<E, R>
): Layer.Layer<TokenStore, never, R> => Layer.effect(TokenStore, makeCallbacks(options))

// -----------------------------------------------------------------------------
// encrypted
// -----------------------------------------------------------------------------

/**
 * Keeps the tokens of any store encrypted at rest, with AES-256-GCM through WebCrypto
 * (`globalThis.crypto.subtle`, in Node 20 and browsers). Each value is encrypted with the current
 * key under a fresh random IV; the slot key is authenticated with it, so a value copied to another
 * slot does not decrypt; the key id is stored with it, so values written under a previous key still
 * decrypt while a rotation is under way (new writes, such as the next refresh, use the current key).
 * A value that does not decrypt, or was stored unencrypted, is absent and logged, redacted.
 *
 * The wrapped store still sees each token's version (and nothing else of it), so its conditional
 * writes and refresh lock work as before. A key is 32 random bytes in base64 (`openssl rand -base64
 * 32`), best read with `Config.redacted`; a missing or malformed key fails the layer with
 * `ConfigurationError`.
 *
 * @example
 * ```ts
 * import { TokenStore } from "@effect-oauth/core"
 * import { Config } from "effect"
 *
 * const store = TokenStore.layerMemory.pipe(
 *   TokenStore.encrypted({
 *     current: { id: "2025-06", key: Config.redacted("TOKEN_KEY") },
 *     previous: [{ id: "2025-01", key: Config.redacted("TOKEN_KEY_PREVIOUS") }]
 *   })
 * )
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const encrypted = (
  keys: encrypted.Keys
): <E, R>(self: Layer.Layer<TokenStore, E, R>) => Layer.Layer<TokenStore, E | ConfigurationError, R> =>
  encryptedStore.layer(keys)

/**
 * @since 0.1.0
 * @category models
 */
export declare namespace encrypted {
  /**
   * One key: its id (1 to 64 letters, digits, `_` or `-`, stored with every value it encrypts) and
   * its 32 bytes in base64 or base64url, as a `Redacted` or a `Config` of one.
   *
   * @since 0.1.0
   * @category models
   */
  export interface Key extends encryptedStore.Key {}
  /**
   * The key that encrypts, and the previous ones that still decrypt.
   *
   * @since 0.1.0
   * @category models
   */
  export interface Keys extends encryptedStore.Keys {}
}
