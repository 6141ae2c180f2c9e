// Static checks of infrastructure/ that no engine here can do for us:
//   - dashboards: valid JSON, unique uids, every datasource uid provisioned;
//   - every LogQL expression (dashboards, Loki ruler) parsed with Grafana's grammar;
//   - Loki and Tempo configs: the keys this stack relies on, and the format of
//     the pinned versions (top-level blocks, removed keys), since no Loki or
//     Tempo binary is packaged for this machine; Prometheus 3's removals
//     (Debian's promtool is 2.x);
//   - the compose images: pinned, and the versions docs/monitoring.md lists;
//     the development ports bound to 127.0.0.1;
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
const guide = "docs/monitoring.md";
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
if (uids.get(tempo?.jsonData?.serviceMap?.datasourceUid) !== "prometheus") problem("datasources", "Tempo's service map needs → Prometheus");
const prometheusDs = datasources.find((ds) => ds.type === "prometheus");
if (!(prometheusDs?.jsonData?.exemplarTraceIdDestinations ?? []).some((d) => d.name === "trace_id" && uids.get(d.datasourceUid) === "tempo")) {
  problem("datasources", "Prometheus needs exemplarTraceIdDestinations trace_id → Tempo");
}
for (const file of ["docker/docker-compose.yml", "docker/docker-compose.prod.yml"]) {
  const command = readYaml(file).services?.prometheus?.command ?? [];
  for (const flag of ["--enable-feature=exemplar-storage", "--web.enable-remote-write-receiver"]) {
    if (!command.includes(flag)) problem(file, `prometheus needs ${flag}`);
  }
}

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
    // Grafana 12 removed AngularJS: these panel types no longer render.
    if (["graph", "singlestat", "table-old", "grafana-piechart-panel", "grafana-worldmap-panel"].includes(panel.type)) {
      problem(at, `panel type ${panel.type} is an AngularJS panel, removed in Grafana 12`);
    }
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
  "EventQueueSaturated", "DatabasePoolExhausted", "SLOErrorBudgetBurnFast", "SLOErrorBudgetBurnSlow",
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
    // Tempo 3: retention moved from the removed compactor to the backend worker.
    "backend_worker.compaction.block_retention": present,
  });
  const processors = get(readYaml(file), "overrides.defaults.metrics_generator.processors") ?? [];
  for (const processor of ["service-graphs", "span-metrics"]) {
    if (!processors.includes(processor)) problem(file, `metrics_generator needs the ${processor} processor`);
  }
}

// --- Engine config formats (no Loki/Tempo binary runs here: their documented keys) --
// Tempo 3.0 refuses unknown top-level blocks ("field ingester not found"); the
// ingester, compactor and their clients were removed in 3.0.
const tempo3 = {
  removed: ["ingester", "ingester_client", "compactor", "metrics_generator_client"],
  topLevel: [
    "target", "auth_enabled", "multitenancy_enabled", "shutdown_delay", "stream_over_http_enabled",
    "http_api_prefix", "enable_go_runtime_metrics", "span_profiling", "server", "internal_server",
    "distributor", "querier", "query_frontend", "metrics_generator", "ingest", "block_builder",
    "live_store", "live_store_client", "storage", "overrides", "memberlist", "usage_report", "cache",
    "backend_scheduler", "backend_scheduler_client", "backend_worker",
  ],
  nested: {
    live_store: [
      "ring", "partition_ring", "metrics", "commit_interval", "query_block_concurrency",
      "complete_block_timeout", "complete_block_concurrency", "flush_check_period", "flush_op_timeout",
      "max_trace_live", "max_trace_idle", "max_live_traces_bytes", "max_block_duration", "max_block_bytes",
      "block_config",
    ],
    backend_worker: ["backend_scheduler_addr", "backoff", "compaction", "override_ring_key", "ring", "finish_on_shutdown_timeout"],
    "backend_worker.compaction": [
      "compaction_window", "max_compaction_objects", "max_block_bytes", "block_retention",
      "compacted_block_retention", "retention_concurrency", "max_time_per_tenant", "compaction_cycle",
    ],
  },
};
// Loki 3.x: the top-level blocks of the configuration reference, and the keys
// removed in 3.0 that 2.x configurations still carry.
const loki3 = {
  removed: [
    "limits_config.enforce_metric_name", "ingester.max_transfer_retries", "chunk_store_config.max_look_back_period",
    "storage_config.tsdb_shipper.shared_store", "storage_config.boltdb_shipper.shared_store",
    "storage_config.tsdb_shipper.shared_store_key_prefix", "compactor.shared_store", "compactor.deletion_mode",
    "ruler.enable_alertmanager_v2", "table_manager",
  ],
  topLevel: [
    "target", "auth_enabled", "ballast_bytes", "shutdown_delay", "server", "distributor", "querier",
    "query_scheduler", "frontend", "query_range", "ruler", "ruler_storage", "ingester_client", "ingester",
    "pattern_ingester", "block_builder", "block_scheduler", "index_gateway", "bloom_build", "bloom_gateway",
    "storage_config", "chunk_store_config", "schema_config", "compactor", "compactor_grpc_client",
    "limits_config", "frontend_worker", "memberlist", "kafka_config", "dataobj", "ui", "runtime_config",
    "operational_config", "tracing", "analytics", "common", "profiling", "ingest_limits",
    "ingest_limits_frontend", "ingest_limits_frontend_client",
  ],
  nested: {},
};
function checkSchema(file, schema) {
  const config = readYaml(file);
  for (const key of Object.keys(config)) {
    if (!schema.topLevel.includes(key)) problem(file, `unknown top-level block "${key}" for this engine version`);
  }
  for (const path of schema.removed) {
    if (get(config, path) !== undefined) problem(file, `${path} was removed; the engine refuses to start with it`);
  }
  for (const [path, keys] of Object.entries(schema.nested)) {
    for (const key of Object.keys(get(config, path) ?? {})) {
      if (!keys.includes(key)) problem(file, `unknown key ${path}.${key}`);
    }
  }
}
for (const file of ["tempo/tempo.yaml", "tempo/tempo-prod.yaml"]) checkSchema(file, tempo3);
for (const file of ["loki/loki-config.yaml", "loki/loki-prod-config.yaml"]) checkSchema(file, loki3);

// Prometheus 3 (promtool here is Debian's 2.x): what 3.0 removed.
const removedPromFeatures = [
  "promql-at-modifier", "promql-negative-offset", "new-service-discovery-manager", "expand-external-labels",
  "no-default-scrape-port", "agent", "remote-write-receiver", "auto-gomemlimit", "auto-gomaxprocs", "utf8-names",
];
const removedPromFlags = ["--storage.tsdb.retention", "--storage.tsdb.allow-overlapping-blocks", "--alertmanager.timeout"];
for (const file of ["prometheus/prometheus.yml", "prometheus/prometheus.apps.yml", "prometheus/prometheus.prod.yml"]) {
  const config = readYaml(file);
  for (const am of config.alerting?.alertmanagers ?? []) {
    if (am.api_version === "v1") problem(file, "alerting api_version v1 was removed (Prometheus 3, Alertmanager 0.27)");
  }
  for (const job of config.scrape_configs ?? []) {
    if ("scrape_classic_histograms" in job) problem(file, `${job.job_name}: scrape_classic_histograms is always_scrape_classic_histograms in Prometheus 3`);
  }
}
// prometheus.apps.yml is prometheus.yml with the services reached by name.
{
  const dev = readYaml("prometheus/prometheus.yml");
  const apps = readYaml("prometheus/prometheus.apps.yml");
  const byName = (t) => t.replace(/^host\.docker\.internal:(3000|3001|3003)$/, (_, port) => ({ 3000: "backend", 3001: "gateway", 3003: "bot" })[port] + ":" + port);
  for (const job of dev.scrape_configs ?? []) {
    for (const sc of job.static_configs ?? []) sc.targets = sc.targets.map(byName);
  }
  if (JSON.stringify(dev) !== JSON.stringify(apps)) problem("prometheus/prometheus.apps.yml", "must equal prometheus.yml except the three services' targets");
}

// --- Images: pinned, current, listed once in docs/monitoring.md ------------------------
const guideText = readFileSync(join(repo, guide), "utf8");
const stackStart = guideText.indexOf("### Technical stack");
const versionsDoc = stackStart < 0 ? "" : guideText.slice(stackStart, guideText.indexOf("\n### ", stackStart + 1));
const listed = new Map(
  [...versionsDoc.matchAll(/`((?:[a-z0-9.-]+\/)?[a-z0-9._-]+):([A-Za-z0-9._-]+)`/g)].map(([, name, tag]) => [name, tag]),
);
if (!/engine versions checked \d{4}-\d{2}-\d{2}/i.test(versionsDoc)) problem(guide, "the engine versions table needs the date they were checked (\"Engine versions checked YYYY-MM-DD\")");
for (const file of ["docker/docker-compose.yml", "docker/docker-compose.prod.yml"]) {
  const composeFile = readYaml(file);
  for (const [name, service] of Object.entries(composeFile.services)) {
    const image = service.image ?? "";
    if (image.includes("${") || image.startsWith("discord-platform/")) continue; // the project's own images
    const [repoName, tag] = image.split(":");
    if (!tag || tag === "latest") problem(file, `${name}: image ${image} must pin an exact version`);
    else if (listed.get(repoName) !== tag) problem(file, `${name}: ${image} is not the version listed in ${guide} (${listed.get(repoName) ?? "not listed"})`);
    if (name === "prometheus") {
      for (const arg of service.command ?? []) {
        const flag = String(arg).split("=")[0];
        if (removedPromFlags.includes(flag)) problem(file, `prometheus: ${flag} was removed in Prometheus 3`);
        if (flag === "--enable-feature") {
          for (const feature of String(arg).split("=")[1].split(",")) {
            if (removedPromFeatures.includes(feature)) problem(file, `prometheus: feature flag ${feature} was removed in Prometheus 3`);
          }
        }
      }
    }
    if (/^grafana\/(loki|tempo):/.test(image)) {
      const test = service.healthcheck?.test ?? [];
      if (test.some((part) => /wget|curl|CMD-SHELL/.test(part))) problem(file, `${name}: the ${image} image is distroless (no shell, wget or curl): that health check can never pass`);
    }
  }
}
// The development stack is for this machine only.
for (const [name, service] of Object.entries(readYaml("docker/docker-compose.yml").services)) {
  for (const port of service.ports ?? []) {
    if (!String(port).startsWith("127.0.0.1:")) problem("docker/docker-compose.yml", `${name} publishes ${port} on every interface: bind it to 127.0.0.1`);
  }
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
