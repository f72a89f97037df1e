import effectPlugin from "@effect/eslint-plugin"
import js from "@eslint/js"
import tseslint from "typescript-eslint"

export default tseslint.config(
  {
    ignores: [
      "**/dist/**",
      "**/build/**",
      "**/node_modules/**",
      "**/.vitest/**",
      "**/.docs-check/**",
      "**/*.d.ts",
      "docs/api/**"
    ]
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    plugins: { "@effect": effectPlugin },
    rules: {
      "no-console": "error",
      "@typescript-eslint/no-explicit-any": "error",
      "@typescript-eslint/ban-ts-comment": "error",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/consistent-type-imports": "error",
      "@typescript-eslint/no-namespace": "off",
      "@typescript-eslint/no-empty-object-type": "off",
      "@effect/dprint": ["error", {
        config: {
          indentWidth: 2,
          lineWidth: 120,
          semiColons: "asi",
          quoteStyle: "alwaysDouble",
          trailingCommas: "never",
          operatorPosition: "maintain",
          "arrowFunction.useParentheses": "force"
        }
      }]
    }
  },
  {
    files: ["packages/*/src/**/*.ts"],
    rules: {
      "no-restricted-imports": ["error", {
        paths: [
          { name: "effect", message: "Import modules by path (effect/Effect) so bundles tree-shake." },
          { name: "@effect/platform", message: "Import modules by path (@effect/platform/HttpClient)." }
        ]
      }],
      "no-restricted-globals": ["error", { name: "setTimeout", message: "Use Effect.sleep or a Schedule." }, {
        name: "setInterval",
        message: "Use a Schedule."
      }],
      "no-restricted-properties": ["error", { object: "Date", property: "now", message: "Use Effect's Clock." }, {
        object: "Math",
        property: "random",
        message: "Use crypto.getRandomValues."
      }]
    }
  },
  {
    files: ["examples/**/*.ts", "bench/**/*.ts", "**/*.mjs"],
    rules: { "no-console": "off" }
  }
)
