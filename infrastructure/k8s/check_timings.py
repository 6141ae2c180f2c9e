#!/usr/bin/env python3
"""Timing checks of the rendered overlays (run by check.py, or alone).

Shutdown budget (docs/deploy.md, "Shutdown budget"): the worst case of a
pod's shutdown, each step at its deadline one after the other, must not
exceed terminationGracePeriodSeconds, or the kubelet SIGKILLs the process
before it has flushed:
  preStop sleep + SHUTDOWN_GRACE_SECONDS + SHUTDOWN_TIMEOUT_SECONDS (drain)
  + the service's event flush (gateway: batcher, bot: forwarder)
  + span flush (OTEL_SHUTDOWN_TIMEOUT + the wait's margin)
  + log flush (LOKI_FLUSH_TIMEOUT + the wait's margin + the console flush).
The deadlines are read from the Rust source (RUST_CONSTANTS: a constant
that moves or disappears fails the check), overridden by the manifests'
environment where a variable sets them. The drain must also outlast
REQUEST_TIMEOUT_MS, or a request in flight at the signal is cut off.

Bot sharding (docs/deploy.md, "The bot scales by shards"):
- replicas × SHARDS_PER_POD = DISCORD_SHARD_TOTAL (every shard runs, once);
- DISCORD_SHARD_TOTAL is a multiple of Discord's max_concurrency (the
  StatefulSet's discord-platform/identify-max-concurrency annotation), as
  Discord requires of bots with max_concurrency > 1;
- pods identifying at the same time never share an identify bucket
  (shard_id % max_concurrency: one identify per 5 s per bucket). The bot
  identifies its own shards one per 5 s, in order; pods of a `Parallel`
  StatefulSet start together, so the k-th shards of all pods must fall in
  distinct buckets, else the StatefulSet must be `OrderedReady`;
- one pod's shards all identify (SHARDS_PER_POD × 5 s) before the
  BotDisconnected alert fires (its `for:`), so a restart or a resharding
  does not page.

Values come from the rendered manifests (ConfigMaps, overridden by a
container's own env) and infrastructure/prometheus/rules.
"""

import glob
import os
import re
import subprocess
import sys

import yaml

IDENTIFY_INTERVAL_SECONDS = 5
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
RULES = os.path.join(os.path.dirname(HERE), "prometheus", "rules", "*.yml")

# What each step of the shutdown waits at most, as the code defines it:
# (file, constant). Read by rust_constants().
RUST_CONSTANTS = {
    "grace": ("crates/telemetry/src/shutdown.rs", "PRODUCTION_GRACE"),
    "drain": ("crates/telemetry/src/shutdown.rs", "DEFAULT_TIMEOUT"),
    "gateway_events": ("crates/gateway/src/app.rs", "FLUSH_DEADLINE"),
    "bot_events": ("crates/bot/src/app.rs", "FLUSH_GRACE"),
    "spans": ("crates/telemetry/src/trace/config.rs", "DEFAULT_SHUTDOWN_TIMEOUT"),
    "spans_margin": ("crates/telemetry/src/trace/mod.rs", "SHUTDOWN_MARGIN"),
    "logs": ("crates/telemetry/src/logging/loki/config.rs", "DEFAULT_FLUSH_TIMEOUT"),
    "logs_margin": ("crates/telemetry/src/logging/loki/mod.rs", "FLUSH_MARGIN"),
    "console": ("crates/telemetry/src/logging/mod.rs", "CONSOLE_FLUSH_TIMEOUT"),
    "request_timeout": ("crates/backend/src/config.rs", "DEFAULT_REQUEST_TIMEOUT_MS"),
}
# The service whose event queue is flushed at shutdown, by image name.
EVENT_FLUSH = {"gateway": "gateway_events", "bot": "bot_events"}

_DURATION = r"(?:std::time::)?Duration"


def rust_constant(path, name, root=ROOT):
    """Seconds of `const NAME: Duration = Duration::from_secs(N)` (or
    from_millis, or a `u64` named `..._MS`) in `path`; raises if absent."""
    with open(os.path.join(root, path), encoding="utf-8") as file:
        source = file.read()
    found = re.search(
        rf"const\s+{name}\s*:\s*{_DURATION}\s*=\s*{_DURATION}::from_(secs|millis)\(\s*([\d_]+)\s*\)",
        source,
    )
    if found:
        value = int(found.group(2).replace("_", ""))
        return value / 1000 if found.group(1) == "millis" else value
    found = re.search(rf"const\s+{name}\s*:\s*u64\s*=\s*([\d_]+)\s*;", source)
    if found and name.endswith("_MS"):
        return int(found.group(1).replace("_", "")) / 1000
    raise LookupError(
        f"{path}: no `const {name}: Duration = Duration::from_secs(..)`: "
        "the shutdown budget cannot be computed (update RUST_CONSTANTS in check_timings.py)"
    )


def rust_constants(root=ROOT):
    return {key: rust_constant(path, name, root) for key, (path, name) in RUST_CONSTANTS.items()}


def _human_seconds(value):
    """LOKI_FLUSH_TIMEOUT's syntax: 500ms, 1.5s, 2m; a bare number is seconds."""
    match = re.fullmatch(r"\s*([\d.]+)\s*(ms|s|m)?\s*", str(value))
    if not match:
        raise ValueError(f"not a duration: {value!r}")
    return float(match.group(1)) * {"ms": 0.001, "s": 1, "m": 60, None: 1}[match.group(2)]


def _seconds(duration):
    units = {"s": 1, "m": 60, "h": 3600}
    return int(duration[:-1]) * units[duration[-1]]


def _alert_for(name):
    for path in sorted(glob.glob(RULES)):
        with open(path, encoding="utf-8") as file:
            for group in (yaml.safe_load(file) or {}).get("groups", []):
                for rule in group.get("rules", []):
                    if rule.get("alert") == name:
                        return _seconds(rule.get("for", "0s"))
    return None


def _env(container, config_maps):
    env = {}
    for source in container.get("envFrom", []):
        env.update(config_maps.get(source.get("configMapRef", {}).get("name"), {}))
    for var in container.get("env", []):
        if "value" in var:
            env[var["name"]] = var["value"]
    return env


def check_shards(workload, env):
    failures = []
    name = f"StatefulSet/{workload['metadata']['name']}"
    replicas = int(workload["spec"].get("replicas", 1))
    total = int(env.get("DISCORD_SHARD_TOTAL", 0))
    per_pod = int(env.get("SHARDS_PER_POD", 0))
    annotations = workload["metadata"].get("annotations", {}) or {}
    concurrency = int(annotations.get("discord-platform/identify-max-concurrency", 1))
    if replicas * per_pod != total:
        failures.append(
            f"{name}: {replicas} replicas × SHARDS_PER_POD {per_pod} = {replicas * per_pod} "
            f"!= DISCORD_SHARD_TOTAL {total}"
        )
    if concurrency > 1 and total % concurrency:
        failures.append(
            f"{name}: DISCORD_SHARD_TOTAL {total} is not a multiple of max_concurrency {concurrency}"
        )
    if workload["spec"].get("podManagementPolicy", "OrderedReady") == "Parallel":
        for k in range(per_pod):
            buckets = [(p * per_pod + k) % concurrency for p in range(replicas)]
            if len(set(buckets)) != len(buckets):
                failures.append(
                    f"{name}: Parallel pods identify shards {[p * per_pod + k for p in range(replicas)]} "
                    f"together in buckets {buckets} (max_concurrency {concurrency}): "
                    "use podManagementPolicy OrderedReady"
                )
                break
    alert_for = _alert_for("BotDisconnected")
    identify = per_pod * IDENTIFY_INTERVAL_SECONDS
    if alert_for is not None and identify >= alert_for:
        failures.append(
            f"{name}: a pod's {per_pod} shards take {identify}s to identify, "
            f"not less than BotDisconnected's for: {alert_for}s"
        )
    return failures


def shutdown_steps(service, env, pre_stop, constants):
    """The shutdown's steps (name, seconds at most), in order."""

    def seconds(var, default, parse=float):
        return parse(env[var]) if var in env else default

    steps = [
        ("preStop", float(pre_stop)),
        ("grace", seconds("SHUTDOWN_GRACE_SECONDS", constants["grace"])),
        ("drain", seconds("SHUTDOWN_TIMEOUT_SECONDS", constants["drain"])),
    ]
    if service in EVENT_FLUSH:
        steps.append(("events", constants[EVENT_FLUSH[service]]))
    spans = seconds("OTEL_SHUTDOWN_TIMEOUT", constants["spans"] * 1000) / 1000
    steps.append(("spans", spans + constants["spans_margin"]))
    logs = seconds("LOKI_FLUSH_TIMEOUT", constants["logs"], _human_seconds)
    steps.append(("logs", logs + constants["logs_margin"] + constants["console"]))
    return steps


def check_shutdown(workload, container, env, constants):
    failures = []
    name = f"{workload['kind']}/{workload['metadata']['name']}"
    pod = workload["spec"]["template"]["spec"]
    budget = pod.get("terminationGracePeriodSeconds", 30)
    pre_stop = container.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0)
    service = container["image"].split("/", 1)[1].split(":", 1)[0]
    steps = shutdown_steps(service, env, pre_stop, constants)
    needed = sum(seconds for _, seconds in steps)
    if needed > budget:
        detail = " + ".join(f"{step} {seconds:g}s" for step, seconds in steps)
        failures.append(
            f"{name}: shutdown worst case {detail} = {needed:g}s "
            f"> terminationGracePeriodSeconds {budget}s"
        )
    drain = dict(steps)["drain"]
    request_timeout = float(env.get("REQUEST_TIMEOUT_MS", constants["request_timeout"] * 1000)) / 1000
    if service in ("backend", "gateway") and drain <= request_timeout:
        failures.append(
            f"{name}: drain {drain:g}s does not outlast REQUEST_TIMEOUT_MS ({request_timeout:g}s): "
            "a request in flight at the signal is cut off"
        )
    return failures


def check(documents, constants=None):
    """Failures (one line each) of the rendered documents."""
    constants = constants or rust_constants()
    config_maps = {
        d["metadata"]["name"]: d.get("data", {}) for d in documents if d["kind"] == "ConfigMap"
    }
    failures = []
    checked = 0
    for d in documents:
        if d["kind"] not in ("Deployment", "StatefulSet"):
            continue
        pod = d["spec"]["template"]["spec"]
        for container in pod["containers"]:
            if not container["image"].startswith("discord-platform/"):
                continue  # not one of the platform's services
            env = _env(container, config_maps)
            checked += 1
            failures += check_shutdown(d, container, env, constants)
            if d["kind"] == "StatefulSet" and "DISCORD_SHARD_TOTAL" in env:
                failures += check_shards(d, env)
    if checked == 0:
        failures.append("no service container found to check")
    return failures


def budget_report(documents, constants=None):
    """One line per service: its shutdown steps and worst case."""
    constants = constants or rust_constants()
    config_maps = {
        d["metadata"]["name"]: d.get("data", {}) for d in documents if d["kind"] == "ConfigMap"
    }
    lines = []
    for d in documents:
        if d["kind"] not in ("Deployment", "StatefulSet"):
            continue
        pod = d["spec"]["template"]["spec"]
        for container in pod["containers"]:
            if not container["image"].startswith("discord-platform/"):
                continue
            pre_stop = container.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0)
            service = container["image"].split("/", 1)[1].split(":", 1)[0]
            steps = shutdown_steps(service, _env(container, config_maps), pre_stop, constants)
            total = sum(seconds for _, seconds in steps)
            detail = " + ".join(f"{step} {seconds:g}s" for step, seconds in steps)
            lines.append(
                f"{service}: {detail} = {total:g}s of {pod.get('terminationGracePeriodSeconds', 30)}s"
            )
    return lines


def main(overlays):
    failures = []
    for overlay in overlays:
        rendered = subprocess.run(
            ["kubectl", "kustomize", os.path.join(HERE, "overlays", overlay)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        documents = [d for d in yaml.safe_load_all(rendered) if d]
        failures += [f"{overlay}: {f}" for f in check(documents)]
        if "-v" in sys.argv:
            for line in budget_report(documents):
                print(f"{overlay}: {line}")
    for failure in failures:
        print(f"ERROR {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main([a for a in sys.argv[1:] if a != "-v"] or ["dev", "prod"]))
