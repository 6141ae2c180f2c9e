import { test } from "node:test";
import assert from "node:assert/strict";
import { evaluateQuery } from "./evaluate.mjs";

const line = (labels, json, metadata = {}) => ({ labels, metadata, line: JSON.stringify(json) });
const entries = [
  line({ app: "backend", level: "info" }, { level: "info", message: "completed in 12ms", context: "HTTP", route: "/api/guilds/{id}", duration_ms: 12, request_id: "r1" }, { trace_id: "abc" }),
  line({ app: "backend", level: "error" }, { level: "error", message: "GET failed", context: "HTTP", route: "/api/guilds/{id}", code: "database_unavailable", "http.route": "/api/guilds/{id}" }),
  line({ app: "backend", level: "info" }, { level: "info", message: "Backend running", context: "Bootstrap" }),
];
const ok = (expr) => assert.deepEqual(evaluateQuery(expr, entries).problems, [], expr);
const fails = (expr, pattern) => {
  const { problems } = evaluateQuery(expr, entries);
  assert.ok(problems.some((p) => pattern.test(p)), `${expr}: ${JSON.stringify(problems)}`);
};

test("queries matching the lines pass", () => {
  ok('{app="backend"} | json | context="HTTP" | duration_ms > 5');
  ok('{app=~"back.*", level="error"} | json | code="database_unavailable" | http_route=~"/api/.*"');
  ok('{app="backend"} |~ "(?i)BOOTSTRAP"');
  ok('{app="backend"} | trace_id="abc"');
  ok('{app="backend"} | json | level_extracted="info"');
  ok('avg_over_time({app="backend"} | json duration_ms, route | duration_ms != "" | unwrap duration_ms [5m]) by (route)');
  ok('sum by (app) (count_over_time({app="backend"} | json | route="<route>" or context="Bootstrap" [5m]))');
});

test("a step that selects nothing fails", () => {
  fails('{app="gateway"}', /matcher app="gateway" selects none/);
  fails('{app="backend"} |= "nowhere"', /line filter/);
  fails('{app="backend"} | json | context="Auth"', /label filter/);
  fails('{app="backend"} | json | duration_ms > 1000', /selects none/);
});

test("a field no line has fails", () => {
  fails('{app="backend"} | json | userId="1"', /names "userId"/);
  fails('sum by (guild) (count_over_time({app="backend"} | json [5m]))', /grouping by \(guild\) names "guild"/);
  fails('{app="backend"} | json | line_format `{{.latency_ms}}`', /line_format names "latency_ms"/);
});

test("unwrap needs a grouping or restricted fields, and a value on every line", () => {
  fails('avg_over_time({app="backend"} | json | context="HTTP" | unwrap duration_ms [5m])', /bare `\| json`/);
  fails('avg_over_time({app="backend"} | json duration_ms | unwrap duration_ms [5m])', /have no number/);
});

test("a query that does not parse fails", () => {
  fails('{app="backend"} {app="bot"}', /does not parse/);
});
