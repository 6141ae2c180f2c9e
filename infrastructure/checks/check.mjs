// Static checks of infrastructure/ that no engine here can do for us:
//   - dashboards: valid JSON, unique uids, every datasource uid provisioned;
//   - every LogQL expression (dashboards, Loki ruler) parsed with Grafana's grammar;
//   - Loki and Tempo configs: the keys this stack relies on (no Loki/Tempo
//     binary is packaged for this machine, so no real validator);
//   - every alert (Prometheus and Loki) has summary, description, a runbook
//     file, and promtool tests both firing and quiet.
// Exits 1 with one line per problem.
import { readFileSync, readdirSync, existsSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import yaml from "js-yaml";
import { logqlErrors } from "./logql.mjs";

const infra = join(dirname(fileURLToPath(import.meta.url)), "..");
const repo = join(infra, "..");
const problems = [];
const problem = (where, what) => problems.push(`${where}: ${what}`);
const readYaml = (path) => yaml.load(readFileSync(join(infra, path), "utf8"));
const get = (object, path) => path.split(".").reduce((o, key) => (o == null ? undefined : o[key]), object);

// --- datasources -------------------------------------------------------------
const datasources = readYaml("grafana/provisioning/datasources/datasources.yml").datasources;
const uids = new Map(datasources.map((ds) => [ds.uid, ds.type]));
if (!datasources.some((ds) => ds.type === "loki" && ds.isDefault)) problem("datasources", "Loki must be the default datasource");
for (const type of ["loki", "prometheus", "tempo", "alertmanager"]) {
  if (![...uids.values()].includes(type)) problem("datasources", `no ${type} datasource`);
}
const loki = datasources.find((ds) => ds.type === "loki");
const derived = loki?.jsonData?.derivedFields ?? [];
if (!derived.some((field) => uids.get(field.datasourceUid) === "tempo" && /trace_id/.test(field.matcherRegex))) {
  problem("datasources", "Loki needs a derived field trace_id → Tempo");
}
const tempo = datasources.find((ds) => ds.type === "tempo");
if (uids.get(tempo?.jsonData?.tracesToLogsV2?.datasourceUid) !== "loki") problem("datasources", "Tempo needs trace-to-logs → Loki");

// --- dashboards ----------------------------------------------------------------
const logql = []; // [where, expr]
const dashboardDir = "grafana/dashboards";
const seenUids = new Map();
const files = readdirSync(join(infra, dashboardDir)).filter((f) => f.endsWith(".json"));
if (files.length < 4) problem(dashboardDir, `expected the four dashboards, found ${files.length}`);
for (const file of files) {
  const where = `${dashboardDir}/${file}`;
  let dashboard;
  try {
    dashboard = JSON.parse(readFileSync(join(infra, where), "utf8"));
  } catch (error) {
    problem(where, `invalid JSON: ${error.message}`);
    continue;
  }
  if (!dashboard.uid) problem(where, "no uid");
  else if (seenUids.has(dashboard.uid)) problem(where, `uid ${dashboard.uid} already used by ${seenUids.get(dashboard.uid)}`);
  else seenUids.set(dashboard.uid, file);
  const panelIds = new Set();
  const panels = (dashboard.panels ?? []).flatMap((p) => [p, ...(p.panels ?? [])]);
  for (const panel of panels) {
    const at = `${where} panel "${panel.title}"`;
    if (panelIds.has(panel.id)) problem(at, `duplicate panel id ${panel.id}`);
    panelIds.add(panel.id);
    if (panel.type === "row") continue;
    const refs = [panel.datasource, ...(panel.targets ?? []).map((t) => t.datasource)].filter(Boolean);
    if (refs.length === 0) problem(at, "no datasource");
    for (const ref of refs) {
      if (!uids.has(ref.uid)) problem(at, `datasource uid "${ref.uid}" is not provisioned`);
      else if (ref.type && uids.get(ref.uid) !== ref.type) problem(at, `datasource ${ref.uid} is a ${uids.get(ref.uid)}, not a ${ref.type}`);
    }
    if ((panel.targets ?? []).length === 0) problem(at, "no query");
    for (const target of panel.targets ?? []) {
      const uid = (target.datasource ?? panel.datasource)?.uid;
      if (!target.expr) problem(at, `target ${target.refId} has no expr`);
      else if (uids.get(uid) === "loki") logql.push([at, target.expr]);
    }
  }
}
for (const uid of ["application-logs", "service-red", "discord-bot", "telemetry-health"]) {
  if (!seenUids.has(uid)) problem(dashboardDir, `missing dashboard ${uid}`);
}
const overview = JSON.parse(readFileSync(join(infra, dashboardDir, "application-logs.json"), "utf8"));
if (overview.refresh !== "5s" || overview.time?.from !== "now-30m") problem("application-logs.json", "refresh 5s and last 30 minutes by default");
const variables = (overview.templating?.list ?? []).map((v) => v.name);
for (const name of ["app", "environment"]) if (!variables.includes(name)) problem("application-logs.json", `no $${name} variable`);
const stats = overview.panels.filter((p) => p.type === "stat").map((p) => p.fieldConfig?.defaults?.color?.fixedColor);
if (stats.join(",") !== "red,yellow,blue,green") problem("application-logs.json", `stat cards must be red, yellow, blue, green; got ${stats}`);

// --- alerts --------------------------------------------------------------------
function checkAlerts(ruleFile) {
  const alerts = [];
  for (const group of readYaml(ruleFile).groups ?? []) {
    for (const rule of group.rules ?? []) {
      if (!rule.alert) continue;
      alerts.push(rule);
      const at = `${ruleFile} alert ${rule.alert}`;
      for (const key of ["summary", "description", "runbook_url"]) if (!rule.annotations?.[key]) problem(at, `no ${key}`);
      // Absolute in a notification: the base comes from the external label
      // runbook_base_url (RUNBOOK_BASE_URL); the repository path otherwise.
      const runbook = rule.annotations?.runbook_url ?? "";
      const base = "{{ with $externalLabels.runbook_base_url }}{{ . }}{{ else }}docs/runbooks{{ end }}";
      if (runbook !== `${base}/${rule.alert}.md`) problem(at, `runbook_url should be ${base}/${rule.alert}.md`);
      else if (!existsSync(join(repo, "docs/runbooks", `${rule.alert}.md`))) problem(at, `docs/runbooks/${rule.alert}.md does not exist`);
      const dashboard = rule.annotations?.dashboard_url ?? "";
      if (!dashboard.startsWith("{{ with $externalLabels.grafana_url }}{{ . }}{{ else }}http://localhost:3002{{ end }}/d/")) {
        problem(at, "dashboard_url should be {{ with $externalLabels.grafana_url }}…/d/<dashboard uid>");
      } else if (!seenUids.has(dashboard.split("/d/")[1].split("?")[0])) problem(at, `dashboard_url names an unknown dashboard: ${dashboard}`);
      if (!rule.labels?.severity) problem(at, "no severity label");
    }
  }
  return alerts;
}
const ruleFiles = readdirSync(join(infra, "prometheus/rules")).filter((f) => f.endsWith(".yml")).sort();
const promAlerts = ruleFiles.flatMap((file) => checkAlerts(`prometheus/rules/${file}`));
const expected = [
  "HighErrorRate", "HighResponseTime", "ApplicationDown", "BotDisconnected", "LogShippingDropping", "AppLogsSilent", "Watchdog",
];
for (const name of expected) if (!promAlerts.some((a) => a.alert === name)) problem("prometheus/rules", `missing alert ${name}`);
// promtool runs the tests; here we make sure none is missing.
const testFiles = readdirSync(join(infra, "prometheus/tests")).filter((f) => f.endsWith(".yml"));
const cases = testFiles.flatMap((file) => (readYaml(`prometheus/tests/${file}`).tests ?? []).flatMap((t) => t.alert_rule_test ?? []));
for (const { alert } of promAlerts) {
  const mine = cases.filter((c) => c.alertname === alert);
  if (!mine.some((c) => (c.exp_alerts ?? []).length > 0)) problem("prometheus/tests", `no firing test for ${alert}`);
  // Watchdog fires by design: it has no quiet case.
  if (alert !== "Watchdog" && !mine.some((c) => (c.exp_alerts ?? []).length === 0)) problem("prometheus/tests", `no quiet test for ${alert}`);
}
const lokiRuleDir = "loki/rules/fake";
for (const file of readdirSync(join(infra, lokiRuleDir))) {
  const ruleFile = `${lokiRuleDir}/${file}`;
  const alerts = checkAlerts(ruleFile);
  for (const group of readYaml(ruleFile).groups ?? []) {
    for (const rule of group.rules ?? []) logql.push([`${ruleFile} ${rule.alert ?? rule.record}`, rule.expr]);
  }
  if (alerts.length < 1) problem(ruleFile, "expected the log-based error-burst alert");
}

// The guide's cookbook: every ```logql block, one query per run of
// non-comment lines (a query may span lines).
const guide = "docs/monitoring.md";
let docQueries = 0;
const blocks = readFileSync(join(repo, guide), "utf8").matchAll(/```logql\n([\s\S]*?)```/g);
for (const [, block] of blocks) {
  let current = [];
  const flush = () => {
    if (current.length > 0) {
      logql.push([`${guide} cookbook`, current.join(" ")]);
      docQueries += 1;
    }
    current = [];
  };
  for (const line of block.split("\n")) {
    if (line.trim() === "" || line.trim().startsWith("#")) flush();
    else current.push(line.trim());
  }
  flush();
}
if (docQueries < 50) problem(guide, `expected the cookbook's queries, found ${docQueries}`);

// --- LogQL ------------------------------------------------------------------------
for (const [where, expr] of logql) {
  const [first] = logqlErrors(expr);
  if (first) problem(where, `LogQL error near ${JSON.stringify(first.text)} in ${expr}`);
}

// --- Loki and Tempo configs ----------------------------------------------------------
function expectKeys(file, expectations) {
  const config = readYaml(file);
  for (const [path, want] of Object.entries(expectations)) {
    const have = get(config, path);
    const ok = typeof want === "function" ? want(have) : have === want;
    if (!ok) problem(file, `${path} is ${JSON.stringify(have)}, expected ${typeof want === "function" ? want.name || "something else" : JSON.stringify(want)}`);
  }
  return config;
}
const present = (v) => v !== undefined && v !== null && v !== "";
for (const [file, retention, rate, burst] of [
  ["loki/loki-config.yaml", "24h", 10, 20],
  ["loki/loki-prod-config.yaml", "720h", 50, 100],
]) {
  const config = expectKeys(file, {
    auth_enabled: false,
    "limits_config.retention_period": retention,
    "limits_config.ingestion_rate_mb": rate,
    "limits_config.ingestion_burst_size_mb": burst,
    "limits_config.query_timeout": present,
    "compactor.retention_enabled": true,
    "compactor.compaction_interval": "10m",
    "compactor.delete_request_store": "filesystem",
    "compactor.working_directory": present,
    "storage_config.tsdb_shipper.active_index_directory": present,
    "ruler.alertmanager_url": "http://alertmanager:9093",
    "ruler.storage.local.directory": "/etc/loki/rules",
  });
  const schemas = get(config, "schema_config.configs") ?? [];
  const last = schemas[schemas.length - 1] ?? {};
  if (last.schema !== "v13" || last.store !== "tsdb") problem(file, "the current schema must be v13 on tsdb (Loki 3)");
}
for (const file of ["tempo/tempo.yaml", "tempo/tempo-prod.yaml"]) {
  expectKeys(file, {
    "distributor.receivers.otlp.protocols.grpc.endpoint": "0.0.0.0:4317",
    "distributor.receivers.otlp.protocols.http.endpoint": "0.0.0.0:4318",
    "server.http_listen_port": 3200,
    "storage.trace.backend": "local",
    "storage.trace.local.path": present,
    "compactor.compaction.block_retention": present,
  });
}

// --- Dockerfile (no engine here to build it: check its shape) ------------------------
const dockerfile = readFileSync(join(infra, "docker/Dockerfile"), "utf8");
const stages = [...dockerfile.matchAll(/^FROM\s+\S+\s+AS\s+(\S+)/gim)].map((m) => m[1]);
for (const target of ["build", "runtime", "backend", "gateway", "bot"]) {
  if (!stages.includes(target)) problem("docker/Dockerfile", `no stage ${target}`);
}
const users = [...dockerfile.matchAll(/^USER\s+(\S+)/gim)].map((m) => m[1]);
if (users.length === 0 || users.some((u) => /^(0|root)(:|$)/.test(u))) problem("docker/Dockerfile", "the runtime must run as a non-root USER");
const compose = readYaml("docker/docker-compose.yml");
for (const [name, service] of Object.entries(compose.services)) {
  const target = service.build?.target;
  if (target && !stages.includes(target)) problem("docker/docker-compose.yml", `${name} builds target ${target}, not in the Dockerfile`);
  if (service.build && !(service.profiles ?? []).includes("apps")) problem("docker/docker-compose.yml", `${name} must be in the profile apps`);
}

if (problems.length > 0) {
  for (const line of problems) console.error(`check-infra: ${line}`);
  process.exit(1);
}
console.log(`check-infra: ${files.length} dashboards, ${logql.length} LogQL expressions (${docQueries} from the guide), ${promAlerts.length} Prometheus alerts, Loki and Tempo configs: OK`);
