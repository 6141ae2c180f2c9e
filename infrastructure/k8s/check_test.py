#!/usr/bin/env python3
"""The checks of check.py fail on what they are meant to catch: each test
breaks one thing in the rendered prod overlay and expects the error.
Run by `make check-k8s` (python3 -m unittest)."""

import copy
import os
import subprocess
import sys
import unittest

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import check  # noqa: E402
import check_timings  # noqa: E402

RENDERED = [
    d
    for d in yaml.safe_load_all(
        subprocess.run(
            [check.kubectl(), "kustomize", os.path.join(HERE, "overlays", "prod")],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    if d
]
check.VERBOSE = False
VALUES = check.helm_values()
check.HELM_SERVICES.update(check.helm_services(VALUES))


def find(documents, kind, name):
    return next(d for d in documents if d["kind"] == kind and d["metadata"]["name"] == name)


class Checks(unittest.TestCase):
    def setUp(self):
        self.documents = copy.deepcopy(RENDERED)
        check.errors.clear()

    def assertError(self, fragment):
        self.assertTrue(
            any(fragment in e for e in check.errors), f"no error with {fragment!r} in {check.errors}"
        )

    def test_the_unbroken_overlay_passes(self):
        check.check_core("prod", self.documents)
        check.check_secrets("prod", self.documents)
        check.check_pod_security("prod", self.documents)
        check.check_network_policies("prod", self.documents)
        check.check_names("prod", self.documents, VALUES)
        self.assertEqual(check.errors, [])

    def test_a_missing_allow_rule_is_reported(self):
        find(self.documents, "NetworkPolicy", "gateway")["spec"].pop("egress")
        check.check_network_policies("prod", self.documents)
        self.assertError("block gateway -> BACKEND_URL")

    def test_the_bot_may_not_reach_the_backend(self):
        find(self.documents, "NetworkPolicy", "backend")["spec"]["ingress"][0].pop("from")
        find(self.documents, "NetworkPolicy", "bot")["spec"]["egress"][0] = {}
        check.check_network_policies("prod", self.documents)
        self.assertError("let the bot reach the backend")

    def test_only_prometheus_of_the_monitoring_namespace_reaches_the_backend(self):
        peer = find(self.documents, "NetworkPolicy", "telemetry")["spec"]["ingress"][0]["from"][0]
        peer.pop("podSelector")
        check.check_network_policies("prod", self.documents)
        self.assertError("pod (e.g. Grafana) reach the backend")

    def test_grafana_without_its_secret_key_or_access_log_is_reported(self):
        values = copy.deepcopy(VALUES)
        grafana = values["kube-prometheus-stack-values.yaml"]["grafana"]
        grafana["envValueFrom"].pop("GF_SECURITY_SECRET_KEY")
        grafana["grafana.ini"]["server"]["router_logging"] = False
        check.check_grafana_values(values)
        self.assertError("GF_SECURITY_SECRET_KEY must be a required secretKeyRef")
        self.assertError("router_logging must be true")
        check.errors.clear()
        check.check_grafana_values(VALUES)
        self.assertEqual(check.errors, [])

    def test_a_literal_secret_is_reported(self):
        self.documents.append(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "leak", "namespace": check.NAMESPACE},
                "stringData": {"DATABASE_URL": "postgres://u:p@db/x"},
            }
        )
        backend = find(self.documents, "Deployment", "backend")["spec"]["template"]["spec"]
        backend["containers"][0]["env"].append({"name": "METRICS_TOKEN", "value": "s3cret"})
        check.check_secrets("prod", self.documents)
        self.assertError("Secret/discord-platform/leak holds literal values")
        self.assertError("METRICS_TOKEN is a literal value")

    def test_an_unknown_core_field_is_reported(self):
        deployment = find(self.documents, "Deployment", "backend")
        deployment["spec"]["replica"] = 3
        check.check_core("prod", [deployment])
        self.assertError("'replica' was unexpected")

    def test_a_pod_below_the_restricted_standard_is_reported(self):
        pod = find(self.documents, "Deployment", "gateway")["spec"]["template"]["spec"]
        pod["containers"][0]["securityContext"]["allowPrivilegeEscalation"] = True
        pod["automountServiceAccountToken"] = True
        check.check_pod_security("prod", self.documents)
        self.assertError("allowPrivilegeEscalation must be false")
        self.assertError("automountServiceAccountToken must be false")

    def test_a_name_no_chart_deploys_is_reported(self):
        env = find(self.documents, "ConfigMap", "platform-env")["data"]
        env["LOKI_URL"] = "http://loki-writer.monitoring.svc.cluster.local:3100"
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = "http://otel-collector.monitoring.svc.cluster.local:4319"
        check.check_names("prod", self.documents, VALUES)
        self.assertError("loki-writer.monitoring is deployed by neither")
        self.assertError("otel-collector.monitoring has no port 4319")

    def test_a_collector_reading_an_unset_variable_is_reported(self):
        collector = find(self.documents, "Deployment", "otel-collector")
        collector["spec"]["template"]["spec"]["containers"][0]["env"] = []
        check.check_collector("prod", self.documents, {"TEMPO_OTLP_ENDPOINT"})
        self.assertError("reads ${env:TEMPO_OTLP_ENDPOINT}, which its Deployment does not set")

    def test_a_collector_config_out_of_shape_is_reported(self):
        path = os.path.join(check.COLLECTOR_DIR, "otel-collector.yaml")
        with open(path, encoding="utf-8") as file:
            original = file.read()
        broken = original.replace("[memory_limiter, tail_sampling, batch]", "[tail_sampling, batchx]")
        broken = broken.replace("status_codes: [ERROR]", "status_codes: [OK]")
        self.assertNotEqual(broken, original)
        check.check_collector_config("otel-collector.yaml", broken)
        self.assertError("memory_limiter must come first")
        self.assertError("processors batchx is used but not defined")
        self.assertError("processors memory_limiter is defined but never used")
        self.assertError("must keep every trace with an error")

    def test_shards_that_do_not_add_up_are_reported(self):
        bot = find(self.documents, "StatefulSet", "bot")
        bot["spec"]["replicas"] = 3
        failures = check_timings.check(self.documents)
        self.assertTrue(any("!= DISCORD_SHARD_TOTAL 4" in f for f in failures), failures)

    def test_parallel_pods_sharing_an_identify_bucket_are_reported(self):
        bot = find(self.documents, "StatefulSet", "bot")
        bot["spec"]["podManagementPolicy"] = "Parallel"
        failures = check_timings.check(self.documents)
        self.assertTrue(any("use podManagementPolicy OrderedReady" in f for f in failures), failures)
        bot["metadata"]["annotations"]["discord-platform/identify-max-concurrency"] = "4"
        self.assertEqual(check_timings.check(self.documents), [])

    def test_the_shutdown_budget_fits_the_grace_period_of_every_pod(self):
        self.assertEqual(check_timings.check(self.documents), [])
        report = "\n".join(check_timings.budget_report(self.documents))
        self.assertIn("gateway: preStop 5s + grace 0s + drain 11s + events 6s", report)

    def test_a_shutdown_over_the_grace_period_is_reported(self):
        gateway = find(self.documents, "Deployment", "gateway")
        gateway["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = 30
        failures = check_timings.check(self.documents)
        self.assertTrue(
            any(
                "Deployment/gateway: shutdown worst case" in f
                and "events 6s" in f
                and "= 36s > terminationGracePeriodSeconds 30s" in f
                for f in failures
            ),
            failures,
        )

    def test_a_longer_flush_in_the_code_is_counted(self):
        constants = check_timings.rust_constants()
        constants["gateway_events"] = 15
        failures = check_timings.check(self.documents, constants)
        self.assertTrue(any("events 15s" in f and "= 45s > " in f for f in failures), failures)
        self.assertFalse(any("backend" in f for f in failures), failures)

    def test_a_manifest_variable_overrides_the_code_default(self):
        env = find(self.documents, "ConfigMap", "platform-env")["data"]
        env["LOKI_FLUSH_TIMEOUT"] = "15s"
        failures = check_timings.check(self.documents)
        self.assertTrue(any("StatefulSet/bot" in f and "logs 18s" in f for f in failures), failures)

    def test_a_drain_shorter_than_the_request_timeout_is_reported(self):
        env = find(self.documents, "ConfigMap", "platform-env")["data"]
        env["SHUTDOWN_TIMEOUT_SECONDS"] = "10"
        failures = check_timings.check(self.documents)
        self.assertTrue(any("does not outlast REQUEST_TIMEOUT_MS" in f for f in failures), failures)

    def test_a_constant_that_disappears_fails_loudly(self):
        with self.assertRaises(LookupError) as raised:
            check_timings.rust_constant("crates/gateway/src/app.rs", "NO_SUCH_DEADLINE")
        self.assertIn("NO_SUCH_DEADLINE", str(raised.exception))

    def test_constants_are_read_in_seconds_and_milliseconds(self):
        constants = check_timings.rust_constants()
        self.assertEqual(constants["spans"], 5)  # from_millis(5000)
        self.assertEqual(constants["request_timeout"], 10)  # 10_000 ms
        self.assertEqual(constants["console"], 2)  # std::time::Duration::from_secs(2)


@unittest.skipUnless(check.schemas_dir(), "schemas absent (reported above; fails under CI=true)")
class SchemaChecks(unittest.TestCase):
    def setUp(self):
        self.documents = copy.deepcopy(RENDERED)
        check.errors.clear()
        self.schemas = check.schemas_dir()

    def test_custom_resources_are_validated_strictly(self):
        find(self.documents, "ServiceMonitor", "backend")["spec"]["endpoints"][0]["prot"] = "http"
        find(self.documents, "ScaledObject", "gateway")["spec"]["minReplicaCount"] = "two"
        check.check_crds("prod", self.documents, check.load_crd_schemas(self.schemas))
        self.assertTrue(any("'prot' was unexpected" in e for e in check.errors), check.errors)
        self.assertTrue(any("'two' is not of type 'integer'" in e for e in check.errors), check.errors)

    def test_a_values_key_the_chart_lacks_is_reported(self):
        values = copy.deepcopy(VALUES)
        values["loki-values.yaml"]["write"]["replicaz"] = 3
        check.check_helm_values(self.schemas, values)
        self.assertEqual(
            check.errors, ["helm/loki-values.yaml: write.replicaz is not a key of the chart's values"]
        )


if __name__ == "__main__":
    unittest.main()
