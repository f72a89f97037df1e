/**
 * The device authorization grant (RFC 8628) in a terminal: prints where to go and the code to type,
 * then waits while `DeviceAuthorization.poll` asks the provider. For machines without a browser
 * (a server over SSH, a container), where the loopback login cannot open one.
 *
 * @since 0.1.0
 */
import * as DeviceAuthorization from "@effect-oauth/core/DeviceAuthorization"
import type { IdTokenError } from "@effect-oauth/core/IdToken"
import type {
  AuthorizationError,
  ConfigurationError,
  ScopeError,
  TokenRequestError
} from "@effect-oauth/core/OAuthError"
import type { ScopeSet } from "@effect-oauth/core/Scopes"
import type { Token } from "@effect-oauth/core/Token"
import type { TokenEndpoint } from "@effect-oauth/core/TokenEndpoint"
import * as Console from "effect/Console"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { printable } from "./internal/terminal.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly scopes?: ScopeSet<string> | undefined
  /** Where the instructions go (default `Console.log`). */
  readonly print?: ((line: string) => Effect.Effect<void>) | undefined
}

/**
 * What the user reads: the verification address, the user code, and how long it is valid. The
 * server's text has its control characters (C0, C1, escape sequences, bidirectional overrides)
 * removed first.
 *
 * @since 0.1.0
 * @category constructors
 */
export const instructions = (started: DeviceAuthorization.Started, now: number): string => {
  const minutes = Math.max(1, Math.round(Duration.toMinutes(Duration.millis(started.expiresAt - now))))
  const complete = Option.match(started.verificationUriComplete, {
    onNone: () => "",
    onSome: (uri) => `\n  (or open ${printable(uri)}, which carries the code)`
  })
  return `To sign in, open ${printable(started.verificationUri)} on any device and enter the code\n\n` +
    `    ${printable(started.userCode)}\n${complete}\n` +
    `The code is valid for ${minutes} minute${minutes === 1 ? "" : "s"}. Waiting…`
}

/**
 * Runs the device flow with a terminal prompt and returns the token.
 *
 * @since 0.1.0
 * @category accessors
 */
export const login = (
  endpoint: TokenEndpoint,
  options: Options = {}
): Effect.Effect<
  Token,
  TokenRequestError | AuthorizationError | ConfigurationError | IdTokenError | ScopeError
> => {
  const print = options.print ?? ((line: string) => Console.log(line))
  return DeviceAuthorization.authorize(endpoint, {
    scopes: options.scopes,
    prompt: (started) =>
      Effect.flatMap(
        Effect.clockWith((clock) => clock.currentTimeMillis),
        (now) => print(instructions(started, now))
      )
  })
}
