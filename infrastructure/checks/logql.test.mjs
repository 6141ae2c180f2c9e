// The checker must reject broken LogQL, or `check.mjs` proves nothing.
import { test } from "node:test";
import assert from "node:assert/strict";
import { logqlErrors, substituteVariables } from "./logql.mjs";

test("valid queries from the dashboards and rules parse cleanly", () => {
  for (const query of [
    '{app="backend"}',
    '{app=~"backend|gateway|bot"} |~ `"level":"error"`',
    'sum by (app) (count_over_time({app=~"$app", level="error"}[5m])) > 10',
    'absent_over_time({app="backend"}[2m]) or absent_over_time({app="bot"}[2m])',
    '{app="backend"} | json | line_format `{{.timestamp}} {{.level}} {{.message}}`',
    'topk(10, avg_over_time({app="backend"} | json | unwrap duration_ms [1h]) by (route))',
    'sum by (app) (count_over_time({app=~"backend|gateway|bot"}[$__auto]))',
  ]) {
    assert.deepEqual(logqlErrors(query), [], query);
  }
});

test("broken queries are reported", () => {
  for (const query of [
    '{app="backend" |= "x"',               // unclosed selector
    'sum(count_over_time({app="bot"}[5m])', // unbalanced parenthesis
    '{app="backend"} |~ ',                  // filter without a pattern
    'count_over_time({app="bot"})',         // range aggregation without a range
    "",
  ]) {
    assert.notDeepEqual(logqlErrors(query), [], `should be rejected: ${query}`);
  }
});

test("Grafana variables are substituted", () => {
  assert.equal(substituteVariables('{app=~"$app"}[$__auto]'), '{app=~".+"}[1m]');
  assert.equal(substituteVariables('{env=~"${environment}"}[$__range]'), '{env=~".+"}[5m]');
});
