/**
 * Where an example sends its requests: the real provider when its credentials are in the
 * environment (`OSU_CLIENT_ID` / `OSU_CLIENT_SECRET`, `SPOTIFY_CLIENT_ID` / `SPOTIFY_CLIENT_SECRET`),
 * otherwise the embedded test server of `@effect-oauth/testing`, configured as that provider, on a
 * loopback port — which the example says in its first line of output.
 */
import { ClientConfig, type Provider, type ScopeRules } from "@effect-oauth/core"
import { TestServer } from "@effect-oauth/testing"
import { Config, Console, Effect, Option, type Scope } from "effect"

export interface Target<P extends string, Rules extends ScopeRules.ScopeRules<P>> {
  readonly provider: Provider.Provider<P, Rules>
  readonly client: ClientConfig.ClientConfig
  /** The API's base URL, such as `https://osu.ppy.sh/api/v2`. */
  readonly api: string
  /** The embedded server, when there are no credentials. */
  readonly server: Option.Option<TestServer.TestServer.Service>
}

export const target = <P extends string, Rules extends ScopeRules.ScopeRules<P>>(options: {
  /** The environment prefix: `OSU` reads `OSU_CLIENT_ID` and `OSU_CLIENT_SECRET`. */
  readonly prefix: string
  readonly name: string
  readonly flavour: TestServer.Flavour
  readonly make: (overrides?: Provider.Overrides) => Provider.Provider<P, Rules>
  /** The API's path on the test server (`/api/v2`, `/v1`). */
  readonly apiPath: string
}): Effect.Effect<Target<P, Rules>, never, Scope.Scope> =>
  Effect.gen(function*() {
    const clientId = yield* Config.option(Config.nonEmptyString(`${options.prefix}_CLIENT_ID`)).pipe(
      Effect.orElseSucceed(() => Option.none<string>())
    )
    if (Option.isSome(clientId)) {
      const provider = options.make()
      const client = yield* ClientConfig.config(options.prefix).pipe(Effect.orDie)
      yield* Console.log(`Using ${options.name} with the client ${client.clientId} from the environment.`)
      return { provider, client, api: Option.getOrThrow(provider.apiBaseUrl), server: Option.none() }
    }
    const server = yield* TestServer.make({ flavour: options.flavour })
    yield* Console.log(
      `No ${options.prefix}_CLIENT_ID in the environment: running against the embedded test server, ` +
        `configured as ${options.name}, at ${server.url}.`
    )
    const api = `${server.url}${options.apiPath}`
    // The preset itself, its endpoints pointed at the test server; the server's RFC 7009 endpoint too,
    // which stands in for the provider's own way of ending a session.
    const provider = server.provider(options.make, { apiBaseUrl: api, revocationEndpoint: server.revocationEndpoint })
    return { provider, client: server.client, api, server: Option.some(server) }
  })

/** The body of a response, printed on one line and cut to `max` characters. */
export const summary = (body: unknown, max = 160): string => {
  const text = JSON.stringify(body)
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`
}
