/**
 * Type-checks every TypeScript code block of the guides (`docs/**.md`) and the READMEs: each
 * ```ts block becomes a module under `.docs-check/`, compiled against the workspace's sources with
 * the root tsconfig. A block fenced as ```ts nocheck (one that shows a compile error) is skipped.
 * Errors are reported at the Markdown file and line of the block.
 */
import * as Fs from "node:fs"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import ts from "typescript"

const root = Path.join(Path.dirname(fileURLToPath(import.meta.url)), "..")
const out = Path.join(root, ".docs-check")

const markdownFiles = (): Array<string> => {
  const found: Array<string> = []
  const walk = (dir: string) => {
    for (const entry of Fs.readdirSync(dir, { withFileTypes: true })) {
      const full = Path.join(dir, entry.name)
      if (entry.isDirectory() && entry.name !== "api" && entry.name !== "node_modules") walk(full)
      else if (entry.isFile() && entry.name.endsWith(".md")) found.push(full)
    }
  }
  if (Fs.existsSync(Path.join(root, "docs"))) walk(Path.join(root, "docs"))
  const readmes = [
    "README.md",
    "examples/README.md",
    "examples/browser-spa/README.md",
    ...Fs.readdirSync(Path.join(root, "packages")).map((pkg) => `packages/${pkg}/README.md`)
  ]
  for (const readme of readmes) if (Fs.existsSync(Path.join(root, readme))) found.push(Path.join(root, readme))
  return found
}

interface Block {
  readonly source: string
  /** The line of the block's first code line in the Markdown file (1-based). */
  readonly line: number
  readonly file: string
}

const blocks: Array<Block> = []
let skipped = 0
Fs.rmSync(out, { recursive: true, force: true })
Fs.mkdirSync(out, { recursive: true })
for (const file of markdownFiles()) {
  const lines = Fs.readFileSync(file, "utf8").split("\n")
  for (let i = 0; i < lines.length; i++) {
    const fence = /^```(ts|typescript)(\s+nocheck)?\s*$/.exec(lines[i]!)
    if (fence === null) continue
    const start = i + 1
    let end = start
    while (end < lines.length && !/^```\s*$/.test(lines[end]!)) end++
    if (fence[2] !== undefined) skipped++
    else {
      const relative = Path.relative(root, file)
      const name = `${relative.replace(/[/\\.]/g, "_")}_${start + 1}.ts`
      const target = Path.join(out, name)
      // `export {}` makes each block a module of its own.
      Fs.writeFileSync(target, `${lines.slice(start, end).join("\n")}\nexport {}\n`)
      blocks.push({ source: relative, line: start + 1, file: target })
    }
    i = end
  }
}

const configPath = Path.join(root, "tsconfig.json")
const config = ts.readConfigFile(configPath, ts.sys.readFile)
const parsed = ts.parseJsonConfigFileContent(config.config, ts.sys, root)
const program = ts.createProgram({
  rootNames: blocks.map((block) => block.file),
  options: { ...parsed.options, noEmit: true, noUnusedLocals: false }
})
const byFile = new Map(blocks.map((block) => [Path.resolve(block.file), block]))
let errors = 0
for (const diagnostic of ts.getPreEmitDiagnostics(program)) {
  const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, "\n")
  const block = diagnostic.file === undefined ? undefined : byFile.get(Path.resolve(diagnostic.file.fileName))
  if (diagnostic.file !== undefined && block === undefined) continue // an error in a dependency is not ours
  errors++
  if (block !== undefined && diagnostic.file !== undefined && diagnostic.start !== undefined) {
    const { line } = diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start)
    process.stderr.write(`${block.source}:${block.line + line}: ${message}\n`)
  } else {
    process.stderr.write(`${message}\n`)
  }
}
process.stdout.write(`${blocks.length} code blocks type-checked, ${skipped} marked nocheck, ${errors} errors\n`)
process.exitCode = errors === 0 ? 0 : 1
