// Converts one YAML file (single or multi-document) to JSON for the C# tests: node yaml2json.mjs IN.yaml OUT.json
// Writes an array with one element per document.
import { readFileSync, writeFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";

const [, , input, output] = process.argv;
if (!input || !output) {
  console.error("usage: node yaml2json.mjs IN.yaml OUT.json");
  process.exit(2);
}
const docs = parseAllDocuments(readFileSync(input, "utf8"));
const errors = docs.flatMap((d) => d.errors.map((e) => e.message));
if (errors.length > 0) {
  console.error(`${input}: ${errors.join("; ")}`);
  process.exit(1);
}
writeFileSync(output, JSON.stringify(docs.map((d) => d.toJS()).filter((d) => d !== null && d !== undefined)));
