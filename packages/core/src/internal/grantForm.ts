// A grant's form parameters (`grant_type` and the grant's own), without client authentication.
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type { Grant } from "../Grant.js"
import type { ScopeSet } from "../Scopes.js"
import { format } from "../Scopes.js"

export const deviceCodeGrantType = "urn:ietf:params:oauth:grant-type:device_code"

const withScopes = (form: Array<readonly [string, string]>, scopes: ScopeSet<string>) => {
  if (scopes.size > 0) form.push(["scope", format(scopes)])
  return form
}

export const toForm = (grant: Grant): ReadonlyArray<readonly [string, string]> => {
  switch (grant._tag) {
    case "ClientCredentials":
      return withScopes([["grant_type", "client_credentials"]], grant.scopes)
    case "AuthorizationCode":
      return [
        ["grant_type", "authorization_code"],
        ["code", Redacted.value(grant.code)],
        ["redirect_uri", grant.redirectUri],
        ["code_verifier", Redacted.value(grant.codeVerifier)]
      ]
    case "RefreshToken": {
      const form: Array<readonly [string, string]> = [
        ["grant_type", "refresh_token"],
        ["refresh_token", Redacted.value(grant.refreshToken)]
      ]
      return Option.match(grant.scopes, { onNone: () => form, onSome: (scopes) => withScopes(form, scopes) })
    }
    case "DeviceCode":
      return [["grant_type", deviceCodeGrantType], ["device_code", Redacted.value(grant.deviceCode)]]
    case "Password":
      return withScopes(
        [["grant_type", "password"], ["username", grant.username], ["password", Redacted.value(grant.password)]],
        grant.scopes
      )
  }
}
