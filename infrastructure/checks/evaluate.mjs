// Evaluates a LogQL query's log pipelines against captured entries the way
// Loki does (see against-output.mjs for what is checked).
import { parser } from "@grafana/lezer-logql";
import { substituteVariables } from "./logql.mjs";

const PLACEHOLDER = /^<[^<>]+>$/;

// --- LogQL helpers ---------------------------------------------------------------
function stringValue(text) {
  if (text.startsWith("`")) return text.slice(1, -1);
  try {
    return JSON.parse(text);
  } catch {
    return text.slice(1, -1).replace(/\\(.)/g, "$1");
  }
}

/** Go RE2 syntax to a JS RegExp: leading inline flags become JS flags. */
function regex(source, anchored) {
  let flags = "";
  let body = source;
  const inline = body.match(/^\(\?([imsU]+)\)/);
  if (inline) {
    body = body.slice(inline[0].length);
    for (const f of inline[1]) if ("is".includes(f)) flags += f;
  }
  return new RegExp(anchored ? `^(?:${body})$` : body, flags);
}

function sanitize(key) {
  let name = key.replace(/[^a-zA-Z0-9_]/g, "_");
  if (/^[0-9]/.test(name)) name = `_${name}`;
  return name;
}

function scalar(value) {
  if (value === null) return "";
  if (typeof value === "string") return value;
  return String(value);
}

/** Loki's `| json`: every scalar, nested keys joined by `_`; arrays skipped. */
function jsonLabels(line, streamLabels) {
  let object;
  try {
    object = JSON.parse(line);
  } catch {
    return { __error__: "JSONParserErr" };
  }
  const out = {};
  const walk = (value, prefix) => {
    for (const [key, inner] of Object.entries(value)) {
      const name = prefix ? `${prefix}_${sanitize(key)}` : sanitize(key);
      if (Array.isArray(inner)) continue;
      if (inner !== null && typeof inner === "object") walk(inner, name);
      else out[name in streamLabels ? `${name}_extracted` : name] = scalar(inner);
    }
  };
  if (object && typeof object === "object") walk(object, "");
  return out;
}

/** `| json name, name="a.b"`: only those, by path. */
function jsonExpressions(line, expressions) {
  let object;
  try {
    object = JSON.parse(line);
  } catch {
    return { __error__: "JSONParserErr" };
  }
  const out = {};
  for (const { name, path } of expressions) {
    let value = object;
    for (const step of path) value = value == null ? undefined : value[step];
    if (value !== undefined && (value === null || typeof value !== "object")) out[name] = scalar(value);
  }
  return out;
}

function jsonPath(text) {
  // `a.b`, `a["b.c"]`, `["b.c"]`
  const path = [];
  const re = /\["((?:[^"\\]|\\.)*)"\]|\[(\d+)\]|([^.[\]]+)/g;
  for (const m of text.matchAll(re)) path.push(m[1] ?? (m[2] !== undefined ? Number(m[2]) : m[3]));
  return path;
}

const children = (node) => {
  const out = [];
  for (let c = node.firstChild; c; c = c.nextSibling) out.push(c);
  return out;
};
const child = (node, name) => children(node).find((c) => c.name === name);
const descendants = (node, name) => {
  const out = [];
  const walk = (n) => {
    for (const c of children(n)) {
      if (c.name === name) out.push(c);
      else walk(c);
    }
  };
  walk(node);
  return out;
};

// --- evaluation ---------------------------------------------------------------------
/** Problems of `expr` against `entries` (`[{labels, metadata, line}]`), and how many lines its narrowest pipeline keeps. */
export function evaluateQuery(expr, entries) {
  const query = substituteVariables(expr);
  const tree = parser.parse(query);
  const text = (node) => query.slice(node.from, node.to);
  const problems = [];
  let parseError = null;
  tree.iterate({
    enter(n) {
      if (n.type.isError && !parseError) parseError = text(n.node.parent ?? n.node);
    },
  });
  if (parseError !== null) return { problems: [`does not parse (near ${JSON.stringify(parseError)})`], selected: 0 };

  const selectors = descendants(tree.topNode, "Selector");
  if (selectors.length === 0) problems.push("no stream selector");
  let selected = Infinity;
  for (const selector of selectors) {
    const owner = selector.parent; // LogExpr or LogRangeExpr
    // Structured metadata is a label of the entry for the pipeline's filters
    // (not for the stream selector).
    let lines = entries.map((e) => ({ labels: { ...(e.metadata ?? {}), ...e.labels }, line: e.line, stream: e.labels }));
    const step = (what, keep) => {
      if (lines.length === 0) return;
      const next = lines.filter(keep);
      if (next.length === 0) problems.push(`${what} selects none of the ${lines.length} lines before it`);
      lines = next;
    };
    const needField = (name, where) => {
      if (name === "__error__" || lines.length === 0) return;
      if (!lines.some((l) => name in l.labels)) problems.push(`${where} names "${name}", which no line has at this point`);
    };

    for (const matcher of descendants(selector, "Matcher")) {
      const [label, op, value] = children(matcher);
      const name = text(label);
      const wanted = stringValue(text(value));
      step(`matcher ${text(matcher)}`, (l) => matches(l.stream[name] ?? "", op.name, wanted, true));
    }

    let parsed = null; // "all" or "some"
    let keepStage = false;
    const stages = owner ? descendants(owner, "PipelineStage") : [];
    for (const stage of stages) {
      const kinds = children(stage).map((c) => c.name);
      if (kinds.includes("LineFilters")) {
        for (const filter of descendants(stage, "LineFilter")) {
          const op = child(filter, "Filter");
          const value = child(filter, "String");
          if (!op || !value) {
            problems.push(`unsupported line filter ${text(filter)}`);
            continue;
          }
          const wanted = stringValue(text(value));
          if (PLACEHOLDER.test(wanted)) continue;
          const opName = children(op)[0]?.name;
          step(`line filter ${text(filter)}`, (l) => lineMatches(l.line, opName, wanted));
        }
      } else if (kinds.includes("LabelParser")) {
        const which = children(child(stage, "LabelParser"))[0]?.name;
        if (which !== "Json") {
          problems.push(`unsupported parser ${text(stage)}`);
          continue;
        }
        parsed = "all";
        lines = lines.map((l) => ({ ...l, labels: { ...jsonLabels(l.line, l.stream), ...l.labels } }));
      } else if (kinds.includes("JsonExpressionParser")) {
        parsed = "some";
        const expressions = descendants(stage, "LabelExtractionExpression").map((e) => {
          const name = text(child(e, "Identifier"));
          const path = child(e, "String");
          return { name, path: path ? jsonPath(stringValue(text(path))) : [name] };
        });
        lines = lines.map((l) => ({ ...l, labels: { ...jsonExpressions(l.line, expressions), ...l.labels } }));
        for (const { name } of expressions) needField(name, `json ${name}`);
      } else if (kinds.includes("LabelFilter")) {
        const filter = child(stage, "LabelFilter");
        for (const id of descendants(filter, "Identifier")) needField(text(id), `label filter ${text(filter)}`);
        step(`label filter ${text(filter)}`, (l) => labelFilter(filter, l.labels, text, problems));
      } else if (kinds.includes("LineFormatExpr")) {
        const template = stringValue(text(child(child(stage, "LineFormatExpr"), "String")));
        for (const [, name] of template.matchAll(/\{\{\s*\.(\w+)\s*\}\}/g)) needField(name, "line_format");
        lines = lines.map((l) => ({ ...l, line: template.replace(/\{\{\s*\.(\w+)\s*\}\}/g, (_, n) => l.labels[n] ?? "") }));
      } else if (kinds.includes("KeepLabelsExpr") || kinds.includes("DropLabelsExpr")) {
        const keep = kinds.includes("KeepLabelsExpr");
        keepStage ||= keep;
        const names = descendants(stage, "Identifier").map(text);
        for (const name of names) needField(name, keep ? "keep" : "drop");
        lines = lines.map((l) => ({
          ...l,
          labels: Object.fromEntries(Object.entries(l.labels).filter(([k]) => names.includes(k) === keep)),
        }));
      } else {
        problems.push(`unsupported stage ${text(stage)}`);
      }
    }

    const unwrap = owner ? child(owner, "UnwrapExpr") : null;
    if (unwrap) {
      const field = text(child(unwrap, "Identifier"));
      needField(field, "unwrap");
      const missing = lines.filter((l) => !Number.isFinite(Number.parseFloat(l.labels[field]))).length;
      if (missing > 0) problems.push(`unwrap ${field}: ${missing} of the ${lines.length} lines have no number there (Loki fails the query): filter them first`);
      const range = owner.parent; // RangeAggregationExpr
      const grouped = range && child(range, "Grouping");
      if (parsed === "all" && !keepStage && !grouped) {
        problems.push("unwrap after a bare `| json` with no grouping: every field (request_id…) becomes a label, one series per line; add `by (…)`, `| json <fields>` or `| keep`");
      }
    }

    // Groupings (`by (…)`) around this pipeline name labels its lines must have.
    for (let up = owner?.parent; up; up = up.parent) {
      const grouping = child(up, "Grouping");
      if (!grouping || up.name === "BinOpExpr") continue;
      if (children(grouping)[0]?.name !== "By") continue;
      for (const id of descendants(grouping, "Identifier")) needField(text(id), `grouping ${text(grouping)}`);
    }
    selected = Math.min(selected, lines.length);
  }
  return { problems, selected: selected === Infinity ? 0 : selected };
}

function matches(have, op, wanted, anchored) {
  if (PLACEHOLDER.test(wanted)) return op === "Eq" || op === "Re" ? have !== "" : true;
  switch (op) {
    case "Eq":
      return have === wanted;
    case "Neq":
      return have !== wanted;
    case "Re":
      return regex(wanted, anchored).test(have);
    case "Nre":
      return !regex(wanted, anchored).test(have);
    default:
      throw new Error(`unknown matcher operator ${op}`);
  }
}

function lineMatches(line, op, wanted) {
  switch (op) {
    case "PipeExact":
      return line.includes(wanted);
    case "Neq":
      return !line.includes(wanted);
    case "PipeMatch":
      return regex(wanted, false).test(line);
    case "Nre":
      return !regex(wanted, false).test(line);
    default:
      throw new Error(`unknown line filter ${op}`);
  }
}

function labelFilter(node, labels, text, problems) {
  const parts = children(node);
  if (parts.length === 3 && parts[0].name === "LabelFilter" && parts[2].name === "LabelFilter") {
    const [left, op, right] = parts;
    const a = labelFilter(left, labels, text, problems);
    const b = labelFilter(right, labels, text, problems);
    return op.name === "Or" ? a || b : a && b;
  }
  const inner = parts.find((p) => p.name === "LabelFilter");
  if (inner) return labelFilter(inner, labels, text, problems); // parentheses
  const [first] = parts;
  if (first?.name === "Matcher") {
    const [label, op, value] = children(first);
    return matches(labels[text(label)] ?? "", op.name, stringValue(text(value)), true);
  }
  if (first?.name === "NumberFilter") {
    const [label, op, literal] = children(first);
    const have = Number.parseFloat(labels[text(label)]);
    const want = Number.parseFloat(text(literal));
    if (!Number.isFinite(have)) return false;
    switch (op.name) {
      case "Gtr":
        return have > want;
      case "Gte":
        return have >= want;
      case "Lss":
        return have < want;
      case "Lte":
        return have <= want;
      case "Eq":
      case "EqEq":
        return have === want;
      case "Neq":
        return have !== want;
      default:
        problems.push(`unsupported number operator ${op.name}`);
        return false;
    }
  }
  problems.push(`unsupported label filter ${text(node)}`);
  return false;
}

