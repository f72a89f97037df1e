import { defineProject, mergeConfig } from "vitest/config"
import { shared } from "../../vitest.shared.js"

// End-to-end tests in real Chromium (Debian's /usr/bin/chromium, driven by playwright-core).
export default mergeConfig(
  shared,
  defineProject({ test: { name: "browser-spa", testTimeout: 90_000, hookTimeout: 120_000 } })
)
