#!/usr/bin/env python3
"""Checks that every pod's shutdown fits in its terminationGracePeriodSeconds.

preStop sleep + SHUTDOWN_GRACE_SECONDS + SHUTDOWN_TIMEOUT_SECONDS + a flush
margin must not exceed the grace period, or the kubelet SIGKILLs the process
before it has flushed its telemetry. Values come from the manifests (the
ConfigMap platform-env, overridden by a container's own env). Run by
`make check-k8s`; PyYAML comes with kubernetes-validate.
"""

import glob
import os
import sys

import yaml

FLUSH_MARGIN_SECONDS = 5
SERVICE_DEFAULTS = {"SHUTDOWN_GRACE_SECONDS": 5, "SHUTDOWN_TIMEOUT_SECONDS": 15}


def main() -> int:
    here = os.path.dirname(os.path.abspath(__file__))
    documents = []
    for path in sorted(glob.glob(os.path.join(here, "*.yaml"))):
        with open(path, encoding="utf-8") as file:
            documents += [d for d in yaml.safe_load_all(file) if d]
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
            env = dict(SERVICE_DEFAULTS)
            for source in container.get("envFrom", []):
                name = source.get("configMapRef", {}).get("name")
                env.update(config_maps.get(name, {}))
            for var in container.get("env", []):
                if "value" in var:
                    env[var["name"]] = var["value"]
            if not container["image"].startswith("discord-platform/"):
                continue  # not one of the platform's services (PostgreSQL)
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
    for failure in failures:
        print(f"ERROR {failure}", file=sys.stderr)
    if checked == 0:
        print("ERROR no service container found to check", file=sys.stderr)
        return 1
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
