import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { defineConfig } from "vite"

const here = path.dirname(fileURLToPath(import.meta.url))
const packages = path.join(here, "..", "..", "packages")

// The workspace packages resolve to their TypeScript sources, so the app needs no build of them.
export default defineConfig({
  root: here,
  logLevel: "warn",
  resolve: {
    alias: [
      { find: /^@effect-oauth\/([a-z-]+)$/, replacement: path.join(packages, "$1/src/index.ts") },
      { find: /^@effect-oauth\/([a-z-]+)\/(.+)$/, replacement: path.join(packages, "$1/src/$2.ts") }
    ]
  },
  build: {
    outDir: path.join(here, "dist"),
    emptyOutDir: true,
    target: "es2022",
    // Two pages: the plain OAuth app, and the OpenID Connect sign-in.
    rollupOptions: { input: { main: path.join(here, "index.html"), oidc: path.join(here, "oidc.html") } }
  }
})
