import { ScopeRules, Scopes } from "@effect-oauth/core"
import { assert, describe, it } from "@effect/vitest"
import { Either } from "effect"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import { cases, ruleSets } from "../../../dtslint/ScopeRules.cases.js"
import { outputs, render } from "../../../scripts/scope-rules-cases.js"

// The run-time half of the agreement: `dtslint/ScopeRules.agreement.tst.ts` checks the type-level
// rules against the same recorded answers.
describe("ScopeRules agreement cases", () => {
  it("cover every rule kind and both answers", () => {
    const tags = new Set(ruleSets.flatMap((rules) => rules.constraints.map((constraint) => constraint._tag)))
    assert.deepStrictEqual([...tags].sort(), [
      "Exclusive",
      "Forbidden",
      "OnlyForGrants",
      "OnlyWithin",
      "RequiresWhenAny"
    ])
    const refused = new Set(cases.flatMap((c) => c.refused === null ? [] : [c.refused]))
    for (
      const rule of ["unknown-scope", "explicit-scopes-required", "grant-scope-not-allowed", "grant-scope-forbidden"]
    ) {
      assert.isTrue(refused.has(rule), `no case breaks ${rule}`)
    }
    assert.isTrue(cases.some((c) => c.refused === null && c.granted.length > 1))
  })

  it("validate answers what is recorded for each case", () => {
    for (const c of cases) {
      const rules: ScopeRules.ScopeRules<string> = ruleSets[c.rules]!
      const result = ScopeRules.validate(rules, c.grant, Scopes.make(...c.request))
      const label = `rule set ${c.rules}, ${c.grant} asking [${c.request.join(" ")}]`
      if (c.refused === null) {
        assert.deepStrictEqual(Either.map(result, (set) => set.values), Either.right(c.granted), label)
      } else {
        assert.isTrue(Either.isLeft(result), `${label}: accepted, recorded as refused by ${c.refused}`)
        if (Either.isLeft(result)) assert.strictEqual(result.left.rule, c.refused, label)
      }
    }
  })

  it("the generated files are current: `pnpm gen:scope-rules` writes them again", () => {
    const root = Path.join(Path.dirname(fileURLToPath(import.meta.url)), "../../..")
    const text = render()
    assert.strictEqual(Fs.readFileSync(Path.join(root, outputs.data), "utf8"), text.data, outputs.data)
    assert.strictEqual(Fs.readFileSync(Path.join(root, outputs.typeTests), "utf8"), text.typeTests, outputs.typeTests)
  })
})
