/**
 * A registered client: its id and, for confidential clients, its secret (always `Redacted`).
 *
 * @since 0.1.0
 */
import * as Config from "effect/Config"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"

/**
 * @since 0.1.0
 * @category models
 */
export interface ClientConfig {
  readonly clientId: string
  readonly clientSecret: Option.Option<Redacted.Redacted<string>>
}

/**
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: {
  readonly clientId: string
  readonly clientSecret?: Redacted.Redacted<string> | undefined
}): ClientConfig => ({ clientId: options.clientId, clientSecret: Option.fromNullable(options.clientSecret) })

/**
 * Reads a client from configuration: `PREFIX_CLIENT_ID` and, if present, `PREFIX_CLIENT_SECRET`
 * (read with `Config.redacted`). `config("OSU")` reads `OSU_CLIENT_ID` and `OSU_CLIENT_SECRET`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const config = (prefix: string): Config.Config<ClientConfig> =>
  Config.all({
    clientId: Config.string(`${prefix}_CLIENT_ID`),
    clientSecret: Config.option(Config.redacted(`${prefix}_CLIENT_SECRET`))
  })
