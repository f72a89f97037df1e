/**
 * An in-process OAuth 2.0 authorization and resource server for tests, examples and the demo.
 *
 * @packageDocumentation
 */

/**
 * @since 0.1.0
 */
export * as TestServer from "./TestServer.js"

/**
 * @since 0.1.0
 */
export * as Simulation from "./Simulation.js"
