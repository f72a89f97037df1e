/**
 * `pnpm --filter @effect-oauth/example-browser-spa dev`: builds the app, starts the embedded
 * authorization server and serves the app; open the printed address. Ctrl-C stops both.
 */
import { buildApp, startSpa } from "./serve.js"

await buildApp()
const spa = await startSpa({ accessTokenLifetimeSeconds: 60 })
process.stdout.write(`The app: ${spa.url}\nIts authorization server: ${spa.server.url}\n`)
process.on("SIGINT", () => void spa.close().then(() => process.exit(0)))
