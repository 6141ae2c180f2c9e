// Holds every LogQL expression of the project (queries.mjs) against log lines
// the services really wrote: `node against-output.mjs captured.jsonl`, one
// `{"labels": {...}, "metadata": {...}, "line": "..."}` per line (what Loki
// received: stream labels, structured metadata, the line).
//
// Each query is parsed with Grafana's grammar and its log pipelines are
// evaluated the way Loki does: stream matchers on the labels, line filters on
// the line, `| json` (all fields, or the listed ones) flattening the JSON
// into labels (nested keys joined by `_`, other characters as `_`, a name
// already a stream label suffixed `_extracted`), label filters, `keep`,
// `drop`, `line_format`, `unwrap`. Every step must leave at least one line,
// every field a step names must exist in the lines it sees, and an `unwrap`
// needs a grouping or a field-restricting stage (else `| json` makes each
// line its own series and Loki refuses the query) and a value on every line.
// A value written `<guild id>` is a documented placeholder: any value.
// Exits 1 with one line per problem.
import { readFileSync } from "node:fs";
import { collectLogql } from "./queries.mjs";
import { evaluateQuery } from "./evaluate.mjs";

const input = process.argv[2];
if (!input) {
  console.error("usage: node against-output.mjs captured.jsonl");
  process.exit(2);
}
const entries = readFileSync(input, "utf8")
  .split("\n")
  .filter((l) => l.trim() !== "")
  .map((l) => JSON.parse(l));
if (entries.length === 0) {
  console.error("against-output: no captured line");
  process.exit(1);
}

// --- report -----------------------------------------------------------------------------
const queries = collectLogql();
const failures = [];
const bySource = {};
for (const query of queries) {
  const { problems, selected } = evaluateQuery(query.expr, entries);
  const tally = (bySource[query.source] ??= { queries: 0, ok: 0 });
  tally.queries += 1;
  if (problems.length === 0) tally.ok += 1;
  for (const problem of problems) failures.push(`${query.where}: ${problem}\n    ${query.expr}`);
  if (process.env.VERBOSE) console.log(`${problems.length === 0 ? "ok  " : "FAIL"} ${String(selected).padStart(6)} lines  ${query.where}  ${query.expr}`);
}
const summary = Object.entries(bySource)
  .map(([source, { queries: n, ok }]) => `${source} ${ok}/${n}`)
  .join(", ");
if (failures.length > 0) {
  for (const failure of failures) console.error(`against-output: ${failure}`);
  console.error(`against-output: ${failures.length} problems; queries that hold against ${entries.length} captured lines: ${summary}`);
  process.exit(1);
}
console.log(`against-output: all ${queries.length} LogQL queries select captured lines (${entries.length} lines): ${summary}`);
