// Every LogQL expression the project ships: the Grafana dashboards' Loki
// targets, the Loki ruler's rules, and the ```logql blocks of docs/*.md (one
// query per run of non-comment lines; a query may span lines).
import { readFileSync, readdirSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import yaml from "js-yaml";

export const infra = join(dirname(fileURLToPath(import.meta.url)), "..");
export const repo = join(infra, "..");

const DASHBOARDS = "grafana/dashboards";
const LOKI_RULES = "loki/rules/fake";

/** `[{where, expr, source}]`, source `dashboard`, `rule` or `docs`. */
export function collectLogql() {
  const datasources = yaml.load(readFileSync(join(infra, "grafana/provisioning/datasources/datasources.yml"), "utf8")).datasources;
  const types = new Map(datasources.map((ds) => [ds.uid, ds.type]));
  const queries = [];
  for (const file of readdirSync(join(infra, DASHBOARDS)).filter((f) => f.endsWith(".json")).sort()) {
    let dashboard;
    try {
      dashboard = JSON.parse(readFileSync(join(infra, DASHBOARDS, file), "utf8"));
    } catch {
      continue; // check.mjs reports invalid JSON
    }
    const panels = (dashboard.panels ?? []).flatMap((p) => [p, ...(p.panels ?? [])]);
    for (const panel of panels) {
      for (const target of panel.targets ?? []) {
        const uid = (target.datasource ?? panel.datasource)?.uid;
        if (target.expr && types.get(uid) === "loki") {
          queries.push({ where: `${DASHBOARDS}/${file} panel "${panel.title}"`, expr: target.expr, source: "dashboard", dashboard: file, panel: panel.title });
        }
      }
    }
  }
  for (const file of readdirSync(join(infra, LOKI_RULES)).sort()) {
    for (const group of yaml.load(readFileSync(join(infra, LOKI_RULES, file), "utf8")).groups ?? []) {
      for (const rule of group.rules ?? []) {
        queries.push({ where: `${LOKI_RULES}/${file} ${rule.alert ?? rule.record}`, expr: rule.expr, source: "rule" });
      }
    }
  }
  for (const file of readdirSync(join(repo, "docs")).filter((f) => f.endsWith(".md")).sort()) {
    const text = readFileSync(join(repo, "docs", file), "utf8");
    for (const match of text.matchAll(/```logql\n([\s\S]*?)```/g)) {
      const line = text.slice(0, match.index).split("\n").length + 1;
      let current = [];
      let start = line;
      const flush = (at) => {
        if (current.length > 0) queries.push({ where: `docs/${file}:${start}`, expr: current.join(" "), source: "docs" });
        current = [];
        start = at + 1;
      };
      match[1].split("\n").forEach((raw, i) => {
        const trimmed = raw.trim();
        if (trimmed === "" || trimmed.startsWith("#")) flush(line + i);
        else current.push(trimmed);
      });
      flush(line);
    }
  }
  return queries;
}
