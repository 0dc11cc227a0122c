// Validates AsyncAPI documents with the official parser, as the Go tests of
// the asyncapi module and of cmd/mqttrpc's docs command do:
//
//	node asyncapi-validate.mjs [FILE...]    (no FILE, or "-": stdin)
//
// It prints every error and warning the parser reports, one a line, and
// exits 1 if any document has an error, 2 if a file cannot be read.
import { readFileSync } from 'node:fs'
import { Parser, DiagnosticSeverity } from '@asyncapi/parser'

const files = process.argv.length > 2 ? process.argv.slice(2) : ['-']
const parser = new Parser()
let failed = false
for (const file of files) {
  let text
  try {
    text = readFileSync(file === '-' ? 0 : file, 'utf8')
  } catch (err) {
    process.stderr.write(`asyncapi-validate: ${file}: ${err.message}\n`)
    process.exit(2)
  }
  const { document, diagnostics } = await parser.parse(text)
  for (const d of diagnostics) {
    if (d.severity !== DiagnosticSeverity.Error && d.severity !== DiagnosticSeverity.Warning) {
      continue
    }
    const level = d.severity === DiagnosticSeverity.Error ? 'error' : 'warning'
    process.stdout.write(`${file}: ${level}: ${d.code}: ${d.message} at /${d.path.join('/')}\n`)
  }
  const errors = diagnostics.filter((d) => d.severity === DiagnosticSeverity.Error)
  if (errors.length > 0 || document === undefined) {
    failed = true
  }
}
process.exit(failed ? 1 : 0)
