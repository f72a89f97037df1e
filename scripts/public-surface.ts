/**
 * Counts the public surface: every name exported by a public module of a package (`src/*.ts` and
 * `src/providers/*.ts`; `internal/` and the `index.ts` barrels are not counted), value and type alike.
 *
 * `pnpm surface` prints the total and the count per module; `pnpm surface --names` lists the names.
 */
import * as Fs from "node:fs"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import ts from "typescript"

const root = Path.join(Path.dirname(fileURLToPath(import.meta.url)), "..")
const packagesDir = Path.join(root, "packages")

const modules = Fs.readdirSync(packagesDir).flatMap((pkg) => {
  const src = Path.join(packagesDir, pkg, "src")
  if (!Fs.existsSync(src)) return []
  const inDir = (dir: string) =>
    Fs.existsSync(dir)
      ? Fs.readdirSync(dir).filter((f) => f.endsWith(".ts") && f !== "index.ts").map((f) => Path.join(dir, f))
      : []
  return [...inDir(src), ...inDir(Path.join(src, "providers"))]
})

const program = ts.createProgram(modules, {
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  target: ts.ScriptTarget.ES2022,
  strict: true,
  noEmit: true,
  skipLibCheck: true
})
const checker = program.getTypeChecker()

const listNames = process.argv.includes("--names")
let total = 0
const rows: Array<[string, number, ReadonlyArray<string>]> = []
for (const file of modules) {
  const source = program.getSourceFile(file)
  const symbol = source && checker.getSymbolAtLocation(source)
  const names = symbol ? checker.getExportsOfModule(symbol).map((s) => s.getName()).sort() : []
  total += names.length
  rows.push([Path.relative(packagesDir, file), names.length, names])
}
for (const [file, count, names] of rows) {
  process.stdout.write(`${String(count).padStart(4)}  ${file}${listNames ? `: ${names.join(", ")}` : ""}\n`)
}
process.stdout.write(`${total} exported names in ${rows.length} public modules\n`)
