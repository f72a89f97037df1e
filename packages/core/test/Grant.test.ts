import { Grant, PasswordGrant, Scopes } from "@effect-oauth/core"
import { assert, describe, it } from "@effect/vitest"
import { Option, Redacted } from "effect"
import { deviceCodeGrantType, toForm } from "../src/internal/grantForm.js"

const form = (grant: Grant.Grant) => Object.fromEntries(toForm(grant))

describe("Grant", () => {
  it("each grant knows its form body", () => {
    assert.deepStrictEqual(form(Grant.ClientCredentials(Scopes.make("b", "a"))), {
      grant_type: "client_credentials",
      scope: "a b"
    })
    assert.deepStrictEqual(form(Grant.ClientCredentials(Scopes.make())), { grant_type: "client_credentials" })
    assert.deepStrictEqual(
      form(Grant.AuthorizationCode({
        code: Redacted.make("c"),
        codeVerifier: Redacted.make("v"),
        redirectUri: "http://127.0.0.1:1/cb"
      })),
      { grant_type: "authorization_code", code: "c", code_verifier: "v", redirect_uri: "http://127.0.0.1:1/cb" }
    )
    assert.deepStrictEqual(form(Grant.RefreshToken(Redacted.make("r"))), {
      grant_type: "refresh_token",
      refresh_token: "r"
    })
    assert.deepStrictEqual(form(Grant.RefreshToken(Redacted.make("r"), Option.some(Scopes.make("a")))), {
      grant_type: "refresh_token",
      refresh_token: "r",
      scope: "a"
    })
    assert.deepStrictEqual(form(Grant.DeviceCode(Redacted.make("d"))), {
      grant_type: deviceCodeGrantType,
      device_code: "d"
    })
  })

  it("the legacy password grant comes from its own module and keeps the password redacted", () => {
    const grant = PasswordGrant.make({ username: "u", password: Redacted.make("hunter2"), scopes: Scopes.make("a") })
    assert.deepStrictEqual(form(grant), { grant_type: "password", username: "u", password: "hunter2", scope: "a" })
    assert.notInclude(JSON.stringify(grant), "hunter2")
    assert.notInclude(String(grant.password), "hunter2")
  })
})
