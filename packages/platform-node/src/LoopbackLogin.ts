/**
 * The authorization-code login of a native app (RFC 8252 §7.3): a one-shot HTTP listener on the
 * loopback interface receives the redirect. The listener is on 127.0.0.1, on an ephemeral port
 * unless the redirect URI registered with the provider names one (osu! compares the port too); the
 * URL is built by `Authorization.start` (PKCE S256, state); the system browser is opened through
 * `@effect/platform`'s `Command`, or the URL is printed when there is no browser to open.
 *
 * The callback is checked as BEHAVIOUR.md §5 says, and answered with a small self-contained page
 * (escaped text, `Cache-Control: no-store`, `Referrer-Policy: no-referrer`). Whatever else reaches
 * the listener cannot end the login: other paths get a 404, a request whose `Host` does not name the
 * listener a 400 (a page that rebound its name to 127.0.0.1), a request to the callback path
 * without this login's state a 400 (any page the user has open can send one to a fixed registered
 * port), and the listener keeps waiting; only the count of such strays is bounded. Oversized
 * requests are refused by the HTTP parser. A browser that goes away after sending the callback
 * does not stop the exchange. The listener is closed in every outcome: success, error, timeout and
 * interruption.
 *
 * @since 0.1.0
 */
import * as Authorization from "@effect-oauth/core/Authorization"
import type { ClientConfig } from "@effect-oauth/core/ClientConfig"
import type { IdTokenError } from "@effect-oauth/core/IdToken"
import type { ScopeError, TokenRequestError } from "@effect-oauth/core/OAuthError"
import { AuthorizationError, ConfigurationError } from "@effect-oauth/core/OAuthError"
import type { Provider } from "@effect-oauth/core/Provider"
import type { ScopeSet } from "@effect-oauth/core/Scopes"
import type { Token } from "@effect-oauth/core/Token"
import * as TokenEndpoint from "@effect-oauth/core/TokenEndpoint"
import * as Command from "@effect/platform/Command"
import * as CommandExecutor from "@effect/platform/CommandExecutor"
import type * as HttpClient from "@effect/platform/HttpClient"
import * as Cause from "effect/Cause"
import * as Console from "effect/Console"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import { createHash, timingSafeEqual } from "node:crypto"
import * as Http from "node:http"
import { browserCommand, page } from "./internal/loopbackPage.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly provider: Provider<string>
  readonly client: ClientConfig
  readonly scopes?: ScopeSet<string> | undefined
  /**
   * The redirect URI registered with the provider, such as `http://127.0.0.1:7777/callback`: its
   * port (when it has one) and path are listened on. Default: `http://127.0.0.1:<ephemeral>/callback`.
   */
  readonly redirectUri?: string | undefined
  /**
   * `true` (the default) opens the system browser, falling back to printing the URL; `false`
   * prints the URL; a function is called with the URL instead (a test, or another opener).
   */
  readonly openBrowser?: boolean | ((url: string) => Effect.Effect<void>) | undefined
  /** How long to wait for the callback (default 5 minutes). */
  readonly timeout?: Duration.DurationInput | undefined
  /** Where messages for the user go (default `Console.log`). */
  readonly print?: ((line: string) => Effect.Effect<void>) | undefined
  /** More query parameters for the authorization URL. */
  readonly extraParams?: Readonly<Record<string, string>> | undefined
  /** The largest request head the listener reads (default 8 KiB); larger requests get a 431. */
  readonly maxRequestBytes?: number | undefined
  /**
   * How many requests to the callback path without this login's state are answered with a 400
   * before the login gives up (default 20): enough that no open page can abort a login by accident,
   * few enough that a flood ends.
   */
  readonly maxStrayRequests?: number | undefined
}

/**
 * The errors of a loopback login.
 *
 * @since 0.1.0
 * @category models
 */
export type LoginError = AuthorizationError | TokenRequestError | ConfigurationError | IdTokenError | ScopeError

const pageHeaders = {
  "content-type": "text/html; charset=utf-8",
  "cache-control": "no-store",
  "referrer-policy": "no-referrer",
  "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'",
  "x-content-type-options": "nosniff",
  "connection": "close"
} as const

interface Callback {
  readonly url: URL
  readonly response: Http.ServerResponse
}

const defaultTimeout = Duration.minutes(5)
const defaultMaxStrays = 20
// How long the page may take to reach the browser before the listener is closed anyway.
const pageDeadline = Duration.seconds(5)

interface Target {
  /** The address listened on. */
  readonly host: string
  readonly port: number
  readonly path: string
  /** What a browser may put in `Host` (without the port): the address, and the registered name. */
  readonly names: ReadonlyArray<string>
}

const literal = (host: string) => host === "::1" ? "[::1]" : host

const redirectTarget = (redirectUri: string | undefined): Effect.Effect<Target, ConfigurationError> => {
  if (redirectUri === undefined) {
    return Effect.succeed({ host: "127.0.0.1", port: 0, path: "/callback", names: ["127.0.0.1"] })
  }
  let url: URL
  try {
    url = new URL(redirectUri)
  } catch {
    return Effect.fail(
      new ConfigurationError({ reason: "InvalidUrl", detail: `the redirect URI ${redirectUri} is not a valid URL` })
    )
  }
  const host = url.hostname === "[::1]" ? "::1" : url.hostname
  if (url.protocol !== "http:" || (host !== "127.0.0.1" && host !== "::1" && host !== "localhost")) {
    return Effect.fail(
      new ConfigurationError({
        reason: "InvalidUrl",
        detail:
          `a loopback login needs an http://127.0.0.1:<port>/<path> redirect URI (RFC 8252 §7.3), not ${url.origin}`
      })
    )
  }
  const listenOn = host === "localhost" ? "127.0.0.1" : host
  return Effect.succeed({
    host: listenOn,
    port: url.port === "" ? 0 : Number(url.port),
    path: url.pathname,
    names: [...new Set([literal(listenOn), url.hostname])]
  })
}

// DNS rebinding: a page of another origin whose name now resolves to 127.0.0.1 sends its own name.
const namesListener = (header: string | undefined, target: Target, port: number | undefined): boolean => {
  if (header === undefined || port === undefined) return false
  const host = header.toLowerCase()
  return target.names.some((name) => host === `${name}:${port}` || (port === 80 && host === name))
}

// Compared through digests, so the time taken says nothing about the state, not even its length.
const carriesState = (url: URL, state: string): boolean => {
  const states = url.searchParams.getAll("state")
  const digest = (text: string) => createHash("sha256").update(text, "utf8").digest()
  return states.length === 1 && timingSafeEqual(digest(states[0]!), digest(state))
}

const listen = (
  host: string,
  port: number,
  maxHeaderSize: number,
  onRequest: (request: Http.IncomingMessage, response: Http.ServerResponse) => void
): Effect.Effect<number, ConfigurationError, Scope.Scope> =>
  Effect.map(
    Effect.acquireRelease(
      Effect.async<Http.Server, ConfigurationError>((resume) => {
        const server = Http.createServer({ maxHeaderSize }, onRequest)
        server.once("error", (error: NodeJS.ErrnoException) =>
          resume(
            Effect.fail(
              new ConfigurationError({
                reason: "Environment",
                detail: `cannot listen on ${host}:${port} for the login callback (${error.code ?? "error"}): ` +
                  (port === 0 ? "check the loopback interface" : "free the port, or register another redirect URI")
              })
            )
          ))
        server.listen({ host, port, exclusive: true }, () => resume(Effect.succeed(server)))
      }),
      (server) =>
        Effect.async<void>((resume) => {
          server.close(() => resume(Effect.void))
          // Whatever is still connected (a half-sent request, a keep-alive socket) is dropped.
          server.closeAllConnections()
        })
    ),
    (server) => {
      const address = server.address()
      return typeof address === "object" && address !== null ? address.port : port
    }
  )

// A browser that has gone away (a closed tab, a reset) has nothing left to be answered.
const reply = (
  response: Http.ServerResponse,
  status: number,
  html: string,
  headers: Readonly<Record<string, string>> = {}
): void => {
  if (response.closed || response.destroyed || response.headersSent) return
  response.writeHead(status, { ...pageHeaders, ...headers })
  response.end(html)
}

// Waits until the page is out (or the connection is gone) so that closing the listener does not
// cut it short; a connection that closed before the answer emits no second "close".
const answer = (response: Http.ServerResponse, status: number, html: string): Effect.Effect<void> =>
  Effect.async<void>((resume) => {
    if (response.closed || response.destroyed) return resume(Effect.void)
    const done = () => resume(Effect.void)
    response.once("close", done)
    reply(response, status, html)
    return Effect.sync(() => response.off("close", done))
  }).pipe(Effect.timeoutOption(pageDeadline), Effect.asVoid)

const openUrl = (
  options: Options,
  url: string,
  print: (line: string) => Effect.Effect<void>
): Effect.Effect<void> => {
  const printUrl = print(`Open this address in a browser to sign in:\n\n  ${url}\n`)
  const open = options.openBrowser ?? true
  if (typeof open === "function") return open(url)
  if (!open) return printUrl
  return Effect.flatMap(
    Effect.serviceOption(CommandExecutor.CommandExecutor),
    (executor) =>
      Option.match(Option.all([executor, browserCommand(process.platform, process.env, url)]), {
        onNone: () => printUrl,
        onSome: ([executor, command]) =>
          Command.exitCode(command).pipe(
            Effect.provideService(CommandExecutor.CommandExecutor, executor),
            Effect.flatMap((code) => code === 0 ? print("Opened the browser to sign in.") : printUrl),
            Effect.catchAll(() => printUrl)
          )
      })
  )
}

/**
 * Runs a loopback login and returns the token (the caller persists it, for example with
 * `OAuthClient.setToken`).
 *
 * @since 0.1.0
 * @category accessors
 */
export const login = (options: Options): Effect.Effect<Token, LoginError, HttpClient.HttpClient> =>
  Effect.scoped(Effect.gen(function*() {
    const print = options.print ?? ((line: string) => Console.log(line))
    const target = yield* redirectTarget(options.redirectUri)
    const endpoint = yield* TokenEndpoint.make({ provider: options.provider, client: options.client })
    const callbacks = yield* Effect.acquireRelease(Queue.unbounded<Callback>(), Queue.shutdown)
    const port = yield* listen(target.host, target.port, options.maxRequestBytes ?? 8192, (request, response) => {
      const url = new URL(request.url ?? "/", `http://${literal(target.host)}`)
      if (!namesListener(request.headers.host, target, request.socket.localPort)) {
        reply(response, 400, page("Wrong address", "This address only receives the sign-in redirect."))
      } else if (request.method !== "GET") {
        reply(response, 405, page("Method not allowed", "This address only receives the sign-in redirect."), {
          allow: "GET"
        })
      } else if (url.pathname !== target.path) {
        reply(response, 404, page("Not found", "This address only receives the sign-in redirect."))
      } else {
        Queue.unsafeOffer(callbacks, { url, response })
      }
    })
    const redirectUri = options.redirectUri !== undefined && target.port !== 0
      ? options.redirectUri
      : `http://${literal(target.host)}:${port}${target.path}`
    const started = yield* Authorization.start({
      provider: options.provider,
      client: options.client,
      redirectUri,
      scopes: options.scopes,
      extraParams: options.extraParams,
      endpoint
    })
    yield* openUrl(options, started.url, print)
    const timeout = options.timeout ?? defaultTimeout
    const maxStrays = options.maxStrayRequests ?? defaultMaxStrays
    const state = Redacted.value(started.transaction.state)
    const callback = yield* Effect.gen(function*() {
      // Bounded: every round takes one request, and after `maxStrays` strays the login ends.
      for (let strays = 1;; strays++) {
        const arrival = yield* Queue.take(callbacks)
        if (carriesState(arrival.url, state)) return arrival
        const last = strays >= maxStrays
        reply(
          arrival.response,
          400,
          page(
            "Not this sign-in",
            "This request does not belong to the sign-in in progress" +
              (last ? ", which has now received too many such requests and stopped." : ", which goes on.")
          )
        )
        yield* Effect.logWarning("a request without the login's state reached the callback address").pipe(
          Effect.annotateLogs({ strays, maxStrays })
        )
        if (last) {
          return yield* new AuthorizationError({
            reason: "StateMismatch",
            description: `${strays} requests without this login's state reached ${redirectUri}: ` +
              "another program or page is sending requests to the login address; close it and start the login again"
          })
        }
      }
    }).pipe(
      Effect.timeoutFail({
        duration: timeout,
        onTimeout: () =>
          new AuthorizationError({
            reason: "Timeout",
            description: `no sign-in arrived within ${Duration.format(timeout)}: start the login again`
          })
      })
    )
    // The transaction is spent on this callback, whatever it says.
    const exit = yield* Effect.exit(Authorization.complete(endpoint, started.transaction, callback.url))
    if (exit._tag === "Success") {
      yield* answer(callback.response, 200, page("Signed in", "You can close this tab and return to the terminal."))
      return exit.value
    }
    const message = Option.match(Cause.failureOption(exit.cause), {
      onNone: () => "The sign-in was interrupted.",
      onSome: (error) => error.message
    })
    yield* answer(callback.response, 400, page("Sign-in failed", message))
    return yield* exit
  }))
