#!/usr/bin/env python3
"""Timing checks of the rendered overlays (run by check.py, or alone).

Shutdown: preStop sleep + SHUTDOWN_GRACE_SECONDS + SHUTDOWN_TIMEOUT_SECONDS
+ a flush margin must not exceed terminationGracePeriodSeconds, or the
kubelet SIGKILLs the process before it has flushed its telemetry.

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
import subprocess
import sys

import yaml

FLUSH_MARGIN_SECONDS = 5
SERVICE_DEFAULTS = {"SHUTDOWN_GRACE_SECONDS": 5, "SHUTDOWN_TIMEOUT_SECONDS": 15}
IDENTIFY_INTERVAL_SECONDS = 5
HERE = os.path.dirname(os.path.abspath(__file__))
RULES = os.path.join(os.path.dirname(HERE), "prometheus", "rules", "*.yml")


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
    env = dict(SERVICE_DEFAULTS)
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


def check(documents):
    """Failures (one line each) of the rendered documents."""
    config_maps = {
        d["metadata"]["name"]: d.get("data", {}) for d in documents if d["kind"] == "ConfigMap"
    }
    failures = []
    checked = 0
    for d in documents:
        if d["kind"] not in ("Deployment", "StatefulSet"):
            continue
        pod = d["spec"]["template"]["spec"]
        budget = pod.get("terminationGracePeriodSeconds", 30)
        for container in pod["containers"]:
            if not container["image"].startswith("discord-platform/"):
                continue  # not one of the platform's services
            env = _env(container, config_maps)
            pre_stop = (
                container.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0)
            )
            needed = (
                int(pre_stop)
                + int(env["SHUTDOWN_GRACE_SECONDS"])
                + int(env["SHUTDOWN_TIMEOUT_SECONDS"])
                + FLUSH_MARGIN_SECONDS
            )
            checked += 1
            if needed > budget:
                failures.append(
                    f"{d['kind']}/{d['metadata']['name']}: preStop {pre_stop}s + grace "
                    f"{env['SHUTDOWN_GRACE_SECONDS']}s + drain {env['SHUTDOWN_TIMEOUT_SECONDS']}s "
                    f"+ flush {FLUSH_MARGIN_SECONDS}s = {needed}s > terminationGracePeriodSeconds {budget}s"
                )
            if d["kind"] == "StatefulSet" and "DISCORD_SHARD_TOTAL" in env:
                failures += check_shards(d, env)
    if checked == 0:
        failures.append("no service container found to check")
    return failures


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
    for failure in failures:
        print(f"ERROR {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or ["dev", "prod"]))
