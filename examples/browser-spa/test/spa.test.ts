/**
 * The SPA end to end in real Chromium: the redirect login, the callback, an API call, a reload, a
 * tampered state, and two tabs sharing one rotating refresh token.
 */
import { Effect } from "effect"
import { type Browser, chromium, type Page } from "playwright-core"
import { afterAll, assert, beforeAll, describe, it } from "vitest"
import { buildApp, type Spa, startSpa } from "../serve.js"

let browser: Browser

beforeAll(async () => {
  await buildApp()
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync"
    ]
  })
})

afterAll(async () => {
  await browser?.close()
})

/** A fresh authorization server, app server and browser context for one test. */
const session = async (options: Parameters<typeof startSpa>[0] = {}) => {
  const spa = await startSpa(options)
  const context = await browser.newContext()
  return {
    spa,
    context,
    close: async () => {
      await context.close()
      await spa.close()
    }
  }
}

const signIn = async (page: Page, spa: Spa) => {
  await page.goto(spa.url)
  await page.waitForSelector("#status:has-text('Signed out.')")
  await page.click("#login")
  await page.waitForSelector("#user:has-text('test-user')", { timeout: 15_000 })
}

const counters = (spa: Spa) => Effect.runPromise(spa.server.counters)

describe("browser-spa in Chromium", () => {
  it("redirect login → callback → API call; the address bar is cleaned", async () => {
    const { spa, context, close } = await session()
    try {
      const page = await context.newPage()
      await signIn(page, spa)
      const url = new URL(page.url())
      assert.strictEqual(url.pathname, "/callback")
      assert.isFalse(url.searchParams.has("code"))
      assert.isFalse(url.searchParams.has("state"))
      await page.click("#call")
      await page.waitForSelector("#api:has-text('-> 200')")
      const c = await counters(spa)
      assert.strictEqual(c.tokenRequests.authorization_code.ok, 1)
      // The transaction was used once and removed; the token is in sessionStorage.
      const keys = await page.evaluate(() => Object.keys(sessionStorage))
      assert.isFalse(keys.some((key) => key.startsWith("effect-oauth/login/")))
      assert.isTrue(keys.some((key) => key.startsWith("effect-oauth/token/")))
    } finally {
      await close()
    }
  })

  it("a reload keeps the session (sessionStorage): no second login", async () => {
    const { spa, context, close } = await session()
    try {
      const page = await context.newPage()
      await signIn(page, spa)
      await page.reload()
      await page.waitForSelector("#user:has-text('test-user')")
      await page.click("#call")
      await page.waitForSelector("#api:has-text('-> 200')")
      const c = await counters(spa)
      assert.strictEqual(c.tokenRequests.authorization_code.ok, 1)
      assert.strictEqual(c.authorizationRequests, 1)
    } finally {
      await close()
    }
  })

  it("a tampered state is rejected: a typed error on the page, no token request, no token stored", async () => {
    const { spa, context, close } = await session()
    try {
      const page = await context.newPage()
      // Between the authorization server and the app, the state in the redirect is changed.
      await page.route(`${spa.server.url}/authorize**`, async (route) => {
        const response = await route.fetch({ maxRedirects: 0 })
        const location = new URL(response.headers()["location"]!)
        location.searchParams.set("state", "forged-state")
        await route.fulfill({ status: 302, headers: { location: location.toString() } })
      })
      await page.goto(spa.url)
      await page.waitForSelector("#status:has-text('Signed out.')")
      await page.click("#login")
      await page.waitForSelector("#error:has-text('AuthorizationResponseError')", { timeout: 15_000 })
      assert.include(await page.textContent("#status"), "failed")
      const c = await counters(spa)
      assert.strictEqual(c.tokenRequests.authorization_code.ok + c.tokenRequests.authorization_code.error, 0)
      const keys = await page.evaluate(() => Object.keys(sessionStorage))
      assert.isFalse(keys.some((key) => key.startsWith("effect-oauth/token/")))
      assert.isFalse(new URL(page.url()).searchParams.has("code"))
    } finally {
      await close()
    }
  })

  it("two tabs, 1-second tokens, rotating refresh tokens, 10 s: one refresh per window, no invalid_grant", async () => {
    const { spa, context, close } = await session({ accessTokenLifetimeSeconds: 1, rotateRefreshTokens: true })
    try {
      const a = await context.newPage()
      await signIn(a, spa)
      const b = await context.newPage()
      await b.goto(spa.url)
      await b.waitForSelector("#status")
      const before = await counters(spa)
      await a.click("#poll")
      await b.click("#poll")
      await new Promise((resolve) => setTimeout(resolve, 10_000))
      const c = await counters(spa)
      const refreshes = c.tokenRequests.refresh_token.ok - before.tokenRequests.refresh_token.ok
      const polledA = await a.textContent("#polled")
      const polledB = await b.textContent("#polled")
      assert.strictEqual(c.invalidGrant, 0, `invalid_grant seen; tabs: ${polledA} / ${polledB}`)
      assert.strictEqual(c.tokenRequests.refresh_token.error, 0)
      // Ten one-second windows: one refresh each for both tabs together (and some slack for timers).
      assert.isAtLeast(refreshes, 7, `refreshes: ${refreshes}`)
      assert.isAtMost(refreshes, 13, `refreshes: ${refreshes}`)
      const [okA] = /(\d+) ok/.exec(polledA ?? "")!.slice(1).map(Number)
      const [okB] = /(\d+) ok/.exec(polledB ?? "")!.slice(1).map(Number)
      assert.isAtLeast(okA!, 20, `tab A: ${polledA}`)
      assert.isAtLeast(okB!, 20, `tab B: ${polledB}`)
    } finally {
      await close()
    }
  })
})
