// LogQL validation with Grafana's own grammar (the parser Grafana's query
// editor uses), plus the substitution of Grafana's template variables.
import { parser } from "@grafana/lezer-logql";

// Grafana replaces these before a query reaches Loki; the grammar does not
// know them inside a range (`[$__auto]`), so they get concrete values.
const GRAFANA_VARIABLES = {
  __auto: "1m",
  __interval: "1m",
  __rate_interval: "1m",
  __range: "5m",
};

/** Replaces `$name` and `${name}` with a concrete value (`.+` for a dashboard variable). */
export function substituteVariables(expr) {
  return expr.replace(/\$\{(\w+)(?::\w+)?\}|\$(\w+)/g, (_, braced, bare) => {
    const name = braced ?? bare;
    return GRAFANA_VARIABLES[name] ?? ".+";
  });
}

/** Parse errors of `expr` as `[{from, to, text}]`; empty when the query is valid. */
export function logqlErrors(expr) {
  const query = substituteVariables(expr);
  const errors = [];
  if (query.trim() === "") {
    return [{ from: 0, to: 0, text: "empty query" }];
  }
  const tree = parser.parse(query);
  tree.iterate({
    enter(node) {
      if (node.type.isError) {
        errors.push({ from: node.from, to: node.to, text: query.slice(Math.max(0, node.from - 10), node.to + 10) });
      }
    },
  });
  return errors;
}
