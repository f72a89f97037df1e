/**
 * The SPA end to end in real Chromium: the redirect login, the callback, an API call, a reload, a
 * tampered state, two tabs sharing one rotating refresh token through `localStorage`, and two tabs
 * on `sessionStorage` that share nothing.
 */
import { Effect } from "effect"
import { type Browser, chromium, type Page } from "playwright-core"
import { afterAll, assert, beforeAll, describe, it } from "vitest"
import { type AppOptions, buildApp, type Spa, startSpa } from "../serve.js"

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

/**
 * Runs in every page before the app: keeps a copy of every message posted on a `BroadcastChannel`
 * and of every token the app writes to `localStorage`, for the test to compare.
 */
const recordChannelAndStorage = () => {
  const page = window as unknown as { posted: Array<string>; written: Array<string> }
  page.posted = []
  page.written = []
  const post = BroadcastChannel.prototype.postMessage
  BroadcastChannel.prototype.postMessage = function(this: BroadcastChannel, message: unknown) {
    page.posted.push(JSON.stringify(message))
    return post.call(this, message)
  }
  const setItem = Storage.prototype.setItem
  Storage.prototype.setItem = function(this: Storage, key: string, value: string) {
    if (key.startsWith("effect-oauth/token/")) page.written.push(value)
    return setItem.call(this, key, value)
  }
}

const recorded = (page: Page) =>
  page.evaluate(() => {
    const { posted, written } = window as unknown as { readonly posted: Array<string>; readonly written: Array<string> }
    return { posted, written }
  })

/** The access and refresh tokens in stored values (the stored format of `TokenStore`). */
const tokensIn = (written: ReadonlyArray<string>): Array<string> =>
  written.flatMap((text) => {
    const { token } = JSON.parse(text) as { token: { accessToken: string; refreshToken?: string | null } }
    return [token.accessToken, ...(typeof token.refreshToken === "string" ? [token.refreshToken] : [])]
  })

/** A fresh authorization server, app server and browser context for one test. */
const session = async (options: Parameters<typeof startSpa>[0] = {}, app: AppOptions = {}) => {
  const spa = await startSpa(options, app)
  const context = await browser.newContext()
  await context.addInitScript(recordChannelAndStorage)
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

  it("a tampered state is rejected: a typed error on the page, no token request, no token stored, the URL cleaned", async () => {
    const { spa, context, close } = await session()
    try {
      const page = await context.newPage()
      // Between the authorization server and the app, the state in the redirect is changed.
      await page.route(`${spa.server.url}/authorize**`, async (route) => {
        const response = await route.fetch({ maxRedirects: 0 })
        const location = new URL(response.headers()["location"]!)
        location.searchParams.set("state", "forged-state")
        location.hash = "access_token=injected-token"
        await route.fulfill({ status: 302, headers: { location: location.toString() } })
      })
      await page.goto(spa.url)
      await page.waitForSelector("#status:has-text('Signed out.')")
      await page.click("#login")
      await page.waitForSelector("#error:has-text('AuthorizationError')", { timeout: 15_000 })
      assert.include(await page.textContent("#status"), "failed")
      const c = await counters(spa)
      assert.strictEqual(c.tokenRequests.authorization_code.ok + c.tokenRequests.authorization_code.error, 0)
      const keys = await page.evaluate(() => Object.keys(sessionStorage))
      assert.isFalse(keys.some((key) => key.startsWith("effect-oauth/token/")))
      const url = new URL(page.url())
      assert.isFalse(url.searchParams.has("code"))
      assert.isFalse(url.searchParams.has("state"))
      assert.strictEqual(url.hash, "")
    } finally {
      await close()
    }
  })

  it("two tabs on localStorage, 1-second tokens, rotating refresh tokens, 10 s: one refresh per window, no invalid_grant, no token on the channel", async () => {
    const { spa, context, close } = await session({ accessTokenLifetimeSeconds: 1, rotateRefreshTokens: true }, {
      store: "localStorage"
    })
    try {
      const a = await context.newPage()
      await signIn(a, spa)
      // The second tab finds the session in the shared store: no login of its own.
      const b = await context.newPage()
      await b.goto(spa.url)
      await b.waitForSelector("#user:has-text('test-user')")
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
      // Ten one-second windows: one refresh each for both tabs together. One polling tab alone
      // refreshes about 12 times here, two tabs refreshing on their own would be twice that; two
      // tabs refresh a little earlier in each window (the refresh lead follows the slowest recent
      // refresh, a wait for the other tab's lock included), hence the slack.
      assert.isAtLeast(refreshes, 7, `refreshes: ${refreshes}`)
      assert.isAtMost(refreshes, 16, `refreshes: ${refreshes}`)
      const [okA] = /(\d+) ok/.exec(polledA ?? "")!.slice(1).map(Number)
      const [okB] = /(\d+) ok/.exec(polledB ?? "")!.slice(1).map(Number)
      assert.isAtLeast(okA!, 20, `tab A: ${polledA}`)
      assert.isAtLeast(okB!, 20, `tab B: ${polledB}`)
      assert.strictEqual(c.authorizationRequests, 1)
      // The tabs told each other of every new token, and never sent one.
      const tabs = [await recorded(a), await recorded(b)]
      const posted = tabs.flatMap((tab) => tab.posted)
      const tokens = tokensIn(tabs.flatMap((tab) => tab.written))
      assert.isAtLeast(posted.length, 7)
      assert.isAtLeast(tokens.length, 2 * 7)
      for (const message of posted) {
        assert.deepStrictEqual(Object.keys(JSON.parse(message)).sort(), ["_tag", "key", "version"], message)
        for (const token of tokens) assert.notInclude(message, token)
      }
    } finally {
      await close()
    }
  })

  it("two tabs on sessionStorage share nothing: the second tab is signed out, and nothing is posted", async () => {
    const { spa, context, close } = await session()
    try {
      const a = await context.newPage()
      await signIn(a, spa)
      const b = await context.newPage()
      await b.goto(spa.url)
      await b.waitForSelector("#status:has-text('Signed out.')")
      assert.strictEqual(await b.textContent("#user"), "nobody")
      const keys = await b.evaluate(() => Object.keys(sessionStorage))
      assert.isFalse(keys.some((key) => key.startsWith("effect-oauth/token/")))
      assert.deepStrictEqual((await recorded(a)).posted, [])
      assert.deepStrictEqual((await recorded(b)).posted, [])
    } finally {
      await close()
    }
  })
})

describe("OpenID sign-in (oidc.html) in Chromium", () => {
  /** Signs in on the OpenID page; the nonce of the authorization request the page was sent to. */
  const signInWithOpenId = async (page: Page, spa: Spa, done: string) => {
    const nonces: Array<string | null> = []
    page.on("request", (request) => {
      const url = new URL(request.url())
      if (url.pathname === "/authorize") nonces.push(url.searchParams.get("nonce"))
    })
    await page.goto(`${spa.url}/oidc.html`)
    await page.waitForSelector("#status:has-text('Signed out.')")
    await page.click("#login")
    await page.waitForSelector(done, { timeout: 15_000 })
    return nonces
  }

  const storedKeys = (page: Page) => page.evaluate(() => Object.keys(sessionStorage))

  it("discovery, the redirect login with a nonce, the ID token checked: its claims and the userinfo shown", async () => {
    const { spa, context, close } = await session()
    try {
      const page = await context.newPage()
      const nonces = await signInWithOpenId(page, spa, "#status:has-text('Signed in as test-user')")
      assert.strictEqual(nonces.length, 1)
      assert.match(nonces[0] ?? "", /^[A-Za-z0-9_-]{43}$/)
      assert.strictEqual(
        await page.textContent("#claims"),
        `ID token: iss ${spa.server.issuer}, sub 1, aud ${spa.server.publicClient.clientId}`
      )
      assert.strictEqual(await page.textContent("#userinfo"), "userinfo: Test User <test-user@example.com>")
      const c = await counters(spa)
      assert.strictEqual(c.tokenRequests.authorization_code.ok, 1)
      assert.strictEqual(c.jwksRequests, 1)
      assert.strictEqual(c.userinfoRequests, 1)
      // The transaction (and its nonce) is gone; the token, with its ID token, is stored.
      const keys = await storedKeys(page)
      assert.isFalse(keys.some((key) => key.startsWith("effect-oauth/login/")))
      const stored = JSON.parse((await recorded(page)).written.at(-1)!) as { token: { idToken?: string | null } }
      assert.isString(stored.token.idToken)
    } finally {
      await close()
    }
  })

  it("an ID token with another nonce is refused: a typed error naming the check, nothing stored", async () => {
    const { spa, context, close } = await session({ idTokenFault: "wrongNonce" })
    try {
      const page = await context.newPage()
      await signInWithOpenId(page, spa, "#error:has-text('IdTokenError')")
      assert.include(await page.textContent("#error"), "Nonce")
      assert.strictEqual(await page.textContent("#status"), "The sign-in failed.")
      // The code was exchanged; its token was dropped.
      assert.strictEqual((await counters(spa)).tokenRequests.authorization_code.ok, 1)
      const keys = await storedKeys(page)
      assert.isFalse(keys.some((key) => key.startsWith("effect-oauth/token/")))
      assert.deepStrictEqual((await recorded(page)).written, [])
    } finally {
      await close()
    }
  })
})
