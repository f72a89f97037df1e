/**
 * Generates the agreement cases of `ScopeRules`: rule sets of every rule kind (the policy's own
 * checks and each constraint), requests over a small scope alphabet, and what `validate` answers
 * for each (the effective set, or the rule it names). Two files come out of it:
 *
 * - `dtslint/ScopeRules.cases.ts`, the rule sets and the cases as data, read by the run-time test
 *   (`packages/core/test/ScopeRules.agreement.test.ts`), which checks that `validate` still answers
 *   what is recorded and that both files are what this script writes today;
 * - `dtslint/ScopeRules.agreement.tst.ts`, one tstyche test per case, run by `pnpm dtslint`: the
 *   type-level check (`ScopeRules.Violations`, `ScopeRules.Granted`) must answer the same.
 *
 * Run `pnpm gen:scope-rules` after changing the rules or this script.
 */
import type { GrantKind } from "@effect-oauth/core/Grant"
import type { Constraint, GrantPolicy, ScopeRules } from "@effect-oauth/core/ScopeRules"
import {
  exclusive,
  forbidden,
  onlyForGrants,
  onlyWithin,
  requiresWhenAny,
  validate
} from "@effect-oauth/core/ScopeRules"
import { make as makeScopes } from "@effect-oauth/core/Scopes"
import * as Either from "effect/Either"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"

/** The scopes requests are made of. */
const alphabet = ["a", "b", "c"] as const

/**
 * The known scopes of most rule sets: the alphabet and `z`, which no request names. A literal request
 * of every known scope cannot be told from a set typed with the provider's whole scope type, which the
 * type-level check leaves to run time (documented on `ScopeRules.Violations`); `z` keeps the cases
 * clear of that.
 */
const known = [...alphabet, "z"] as const

/** The grants asked with: the one the constraints name, and one they do not. */
const grants = ["ClientCredentials", "AuthorizationCode"] as const satisfies ReadonlyArray<GrantKind>

const cc = ["ClientCredentials"] as const

interface RuleSet {
  readonly title: string
  readonly rules: ScopeRules<string>
  /** The TypeScript source of `rules`, as the generated files declare it. */
  readonly source: string
}

const list = (scopes: ReadonlyArray<string>): string => `[${scopes.map((scope) => JSON.stringify(scope)).join(", ")}]`

const value = (v: unknown): string => typeof v === "string" ? JSON.stringify(v) : Array.isArray(v) ? list(v) : String(v)

const fields = (record: object): string =>
  `{ ${Object.entries(record).map(([key, v]) => `${key}: ${value(v)}`).join(", ")} }`

const constructors: Record<Constraint["_tag"], string> = {
  RequiresWhenAny: "requiresWhenAny",
  OnlyWithin: "onlyWithin",
  Forbidden: "forbidden",
  OnlyForGrants: "onlyForGrants",
  Exclusive: "exclusive"
}

const constraintSource = (constraint: Constraint): string => {
  const { _tag, ...rest } = constraint
  return `ScopeRules.${constructors[_tag]}(${fields(rest)})`
}

const ruleSet = (
  title: string,
  options: {
    readonly known?: ReadonlyArray<string> | "any"
    readonly clientCredentials?: GrantPolicy<string>
    readonly constraints?: ReadonlyArray<Constraint>
  }
): RuleSet => {
  const knownScopes = options.known ?? known
  const policy = options.clientCredentials
  const constraints = options.constraints ?? []
  const rules: ScopeRules<string> = {
    known: knownScopes,
    grants: policy === undefined ? {} : { ClientCredentials: policy },
    constraints
  }
  const source = [
    "{",
    `  known: ${value(knownScopes)},`,
    `  grants: ${policy === undefined ? "{}" : `{ ClientCredentials: ${fields(policy)} }`},`,
    constraints.length === 0
      ? "  constraints: []"
      : ["  constraints: [", constraints.map((c) => `    ${constraintSource(c)}`).join(",\n"), "  ]"].join("\n"),
    "} as const satisfies ScopeRules.ScopeRules<string>"
  ].join("\n")
  return { title, rules, source }
}

/** Every rule kind, alone and in the combinations where they interact (defaults, several constraints). */
export const ruleSets: ReadonlyArray<RuleSet> = [
  // The policy's own checks.
  ruleSet("known a b c z", {}),
  ruleSet("known a b: c is unknown", { known: ["a", "b"] }),
  ruleSet("any scope", { known: "any" }),
  ruleSet("explicit", { clientCredentials: { explicit: true } }),
  ruleSet("defaults a", { clientCredentials: { defaults: ["a"] } }),
  ruleSet("defaults c, unknown", { known: ["a", "b"], clientCredentials: { defaults: ["c"] } }),
  ruleSet("allowed a b", { clientCredentials: { allowed: ["a", "b"] } }),
  ruleSet("defaults c, allowed a b", { clientCredentials: { defaults: ["c"], allowed: ["a", "b"] } }),
  ruleSet("forbidden b", { clientCredentials: { forbidden: ["b"] } }),
  ruleSet("defaults b, forbidden b", { clientCredentials: { defaults: ["b"], forbidden: ["b"] } }),
  ruleSet("implied c", { clientCredentials: { implied: ["c"] } }),
  ruleSet("defaults a, implied b", { clientCredentials: { defaults: ["a"], implied: ["b"] } }),
  // Each constraint kind, for the client-credentials grant.
  ...[["a"], ["a", "b"]].flatMap((trigger) =>
    ["b", "c"].map((required) =>
      ruleSet(`requiresWhenAny ${trigger.join(" ")} → ${required}`, {
        constraints: [requiresWhenAny({ name: "requires", grants: cc, trigger, required })]
      })
    )
  ),
  ...[["a"], ["a", "b"]].map((allowed) =>
    ruleSet(`onlyWithin a → ${allowed.join(" ")}`, {
      constraints: [onlyWithin({ name: "within", grants: cc, trigger: ["a"], allowed })]
    })
  ),
  ...[["b"], ["a", "b"], "all" as const].map((scopes) =>
    ruleSet(`forbidden ${scopes === "all" ? "all" : scopes.join(" ")}`, {
      constraints: [forbidden({ name: "forbidden", grants: cc, scopes })]
    })
  ),
  ...[["a"], ["a", "b"]].map((scopes) =>
    ruleSet(`onlyForGrants ${scopes.join(" ")} → AuthorizationCode`, {
      constraints: [onlyForGrants({ name: "only-for", scopes, grants: ["AuthorizationCode"] })]
    })
  ),
  ...[["a"], ["a", "b"], ["a", "b", "c"]].map((scopes) =>
    ruleSet(`exclusive ${scopes.join(" ")}`, {
      constraints: [exclusive({ name: "exclusive", grants: cc, scopes })]
    })
  ),
  // Constraints on what is sent when nothing is asked for, and constraints together.
  ruleSet("defaults a b, exclusive a", {
    clientCredentials: { defaults: ["a", "b"] },
    constraints: [exclusive({ name: "exclusive", grants: cc, scopes: ["a"] })]
  }),
  ruleSet("defaults a, requiresWhenAny a → b", {
    clientCredentials: { defaults: ["a"] },
    constraints: [requiresWhenAny({ name: "requires", grants: cc, trigger: ["a"], required: "b" })]
  }),
  ruleSet("osu!-like: requiresWhenAny b c → b, onlyWithin b c, exclusive a", {
    clientCredentials: { explicit: true },
    constraints: [
      requiresWhenAny({ name: "requires", grants: cc, trigger: ["b", "c"], required: "b" }),
      onlyWithin({ name: "within", grants: cc, trigger: ["b", "c"], allowed: ["b", "c"] }),
      exclusive({ name: "exclusive", grants: ["ClientCredentials", "AuthorizationCode"], scopes: ["a"] })
    ]
  })
]

/** Every subset of the alphabet, smallest first. */
const requests: ReadonlyArray<ReadonlyArray<string>> = Array.from(
  { length: 2 ** alphabet.length },
  (_, bits) => alphabet.filter((_, i) => (bits & (1 << i)) !== 0)
).sort((x, y) => x.length - y.length)

/**
 * One request and what `validate` answered: `refused` names the rule broken, `granted` the effective
 * set of an accepted request.
 */
export interface Case {
  readonly rules: number
  readonly grant: GrantKind
  readonly request: ReadonlyArray<string>
  readonly refused: string | null
  readonly granted: ReadonlyArray<string>
}

const isEveryKnown = (request: ReadonlyArray<string>, scopes: ReadonlyArray<string> | "any") =>
  scopes !== "any" && scopes.length === request.length && scopes.every((scope) => request.includes(scope))

/** The cases, each answered by `validate` as it is today. */
export const cases = (): ReadonlyArray<Case> =>
  ruleSets.flatMap((set, index) =>
    grants.flatMap((grant) =>
      requests
        // See `known`: a request of every known scope is left to run time by design.
        .filter((request) => !isEveryKnown(request, set.rules.known))
        .map((request): Case => {
          const result = validate(set.rules, grant, makeScopes(...request))
          return Either.match(result, {
            onLeft: (error) => ({ rules: index, grant, request, refused: error.rule ?? error.reason, granted: [] }),
            onRight: (effective) => ({ rules: index, grant, request, refused: null, granted: effective.values })
          })
        })
    )
  )

const header = (what: string) =>
  [
    `// ${what}`,
    "// Generated by scripts/scope-rules-cases.ts: do not edit. `pnpm gen:scope-rules` writes it again."
  ].join("\n")

const name = (index: number) => `r${String(index).padStart(2, "0")}`

const union = (scopes: ReadonlyArray<string>) =>
  scopes.length === 0 ? "never" : scopes.map((scope) => JSON.stringify(scope)).join(" | ")

/** The data module: the rule sets and the cases. */
export const renderData = (all: ReadonlyArray<Case>): string =>
  [
    header("The rule sets and requests of the ScopeRules agreement tests, with what `validate` answers."),
    `import * as ScopeRules from "@effect-oauth/core/ScopeRules"`,
    `import type { Case } from "../scripts/scope-rules-cases.js"`,
    "",
    ...ruleSets.map((set, index) => `/** ${set.title} */\nexport const ${name(index)} = ${set.source}\n`),
    "/** Every rule set, by the index its cases name. */",
    "export const ruleSets = [",
    ruleSets.map((_, index) => `  ${name(index)}`).join(",\n"),
    "] as const",
    "",
    "/** Each request, and what `validate` answered. */",
    "export const cases: ReadonlyArray<Case> = [",
    all.map((c) =>
      `  { rules: ${c.rules}, grant: ${JSON.stringify(c.grant)}, request: ${list(c.request)}, refused: ${
        c.refused === null ? "null" : JSON.stringify(c.refused)
      }, granted: ${list(c.granted)} }`
    ).join(",\n"),
    "]",
    ""
  ].join("\n")

const describeRequest = (c: Case) => c.request.length === 0 ? "nothing" : c.request.join(" ")

const grantAlias: Record<(typeof grants)[number], string> = { ClientCredentials: "CC", AuthorizationCode: "AC" }

/** The tstyche module: one test per case, the type-level check against what `validate` answered. */
export const renderTypeTests = (all: ReadonlyArray<Case>): string =>
  [
    header("The type-level twin of every ScopeRules agreement case: it must answer what `validate` answered."),
    `import type { ScopeRules } from "@effect-oauth/core"`,
    `import type { GrantKind } from "@effect-oauth/core/Grant"`,
    `import { describe, expect, test } from "tstyche"`,
    `import type * as Cases from "./ScopeRules.cases.js"`,
    "",
    `type CC = "ClientCredentials"`,
    `type AC = "AuthorizationCode"`,
    "",
    "// The scopes granted when the types accept the request; \"refused\" otherwise.",
    "type Accepted<Rules, G extends GrantKind, S extends string> = [ScopeRules.Violations<Rules, G, S>] extends [never]",
    "  ? ScopeRules.Granted<Rules, G, S>",
    "  : \"refused\"",
    "",
    "// The rules the types say a request breaks: `validate`'s one must be among them.",
    "type Violations<Rules, G extends GrantKind, S extends string> = ScopeRules.Violations<Rules, G, S>",
    "",
    ...ruleSets.map((set, index) => {
      const tests = all.filter((c) => c.rules === index).map((c) => {
        const asked = `${grantAlias[c.grant as (typeof grants)[number]]}, ${union(c.request)}`
        const title = `${c.grant} asking ${describeRequest(c)}: ${
          c.refused === null ? `grants ${c.granted.length === 0 ? "nothing" : c.granted.join(" ")}` : c.refused
        }`
        const assertion = c.refused === null
          ? `expect<Accepted<R, ${asked}>>().type.toBe<${union(c.granted)}>()`
          : `expect<${JSON.stringify(c.refused)}>().type.toBeAssignableTo<Violations<R, ${asked}>>()`
        return [`  test(${JSON.stringify(title)}, () => {`, `    ${assertion}`, "  })"].join("\n")
      })
      return [
        `describe(${JSON.stringify(`${name(index)}: ${set.title}`)}, () => {`,
        `  type R = typeof Cases.${name(index)}`,
        "",
        tests.join("\n\n"),
        "})",
        ""
      ].join("\n")
    })
  ].join("\n")

/** Where the generated files live, from the repository's root. */
export const outputs = {
  data: "dtslint/ScopeRules.cases.ts",
  typeTests: "dtslint/ScopeRules.agreement.tst.ts"
} as const

/** The generated files' text, by their path in {@link outputs}. */
export const render = (): { readonly data: string; readonly typeTests: string } => {
  const all = cases()
  return { data: renderData(all), typeTests: renderTypeTests(all) }
}

const root = Path.join(Path.dirname(fileURLToPath(import.meta.url)), "..")

if (process.argv[1] !== undefined && Path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const text = render()
  Fs.writeFileSync(Path.join(root, outputs.data), text.data)
  Fs.writeFileSync(Path.join(root, outputs.typeTests), text.typeTests)
}
