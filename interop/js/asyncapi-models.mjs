// Generates Go types of the payloads of an AsyncAPI document with AsyncAPI
// Modelina, as cmd/mqttrpc's TestDocsClient does with a document that
// `mqttrpc docs` wrote:
//
//	node asyncapi-models.mjs DOC OUTDIR PACKAGE
//
// It writes one Go file per schema to OUTDIR, structs with json tags, in
// package PACKAGE, and prints each model's name, one a line. It exits 1 if the document cannot be read or generated.
import { readFileSync } from 'node:fs'
import { GoFileGenerator, GO_COMMON_PRESET } from '@asyncapi/modelina'

const [doc, outDir, packageName] = process.argv.slice(2)
if (!doc || !outDir || !packageName) {
  process.stderr.write('usage: node asyncapi-models.mjs DOC OUTDIR PACKAGE\n')
  process.exit(2)
}
try {
  const generator = new GoFileGenerator({
    presets: [{ preset: GO_COMMON_PRESET, options: { addJsonTag: true } }],
  })
  const models = await generator.generateToFiles(readFileSync(doc, 'utf8'), outDir, { packageName })
  for (const m of models) {
    process.stdout.write(`${m.modelName}\n`)
  }
} catch (err) {
  process.stderr.write(`asyncapi-models: ${doc}: ${err.stack || err}\n`)
  process.exit(1)
}
