#!/usr/bin/env python3
"""`make check-k8s`: the Kubernetes layout as an operator would apply it.

For each overlay (dev, prod), rendered with `kubectl kustomize`:
- core resources validated strictly (unknown fields rejected) against the
  Kubernetes API schemas of the oldest supported version and the newest
  (kubernetes-validate);
- custom resources (ServiceMonitor, PodMonitor, PrometheusRule, KEDA
  ScaledObject/TriggerAuthentication) validated against the operators'
  published CRD schemas (openAPIV3Schema), strictly as the API server's
  strict field validation does;
- no Secret with literal values, no secret-looking literal in a container's
  env;
- every pod meets the restricted Pod Security Standard and mounts no
  service account token;
- the NetworkPolicies allow every connection the services make (derived
  from the URLs they are configured with and the variables their code
  reads), DNS, Prometheus' scrapes and the bot's Discord connection;
- shutdown and bot sharding timings (check_timings.py);
- the OpenTelemetry Collector configs: components defined and used, the
  tail-sampling policies, the variables and ports the Deployment provides.
Then the Helm values files: every key they set exists in the chart's
default values, and every in-cluster service name and port they, the
collector and the overlays name is one the charts or the overlays create.
Finally the generated resources must match their sources (generate.py).

The CRD schemas and chart defaults are read from ../shared/schemas (or
$K8S_SCHEMAS_DIR), never copied here; when absent the check says so loudly,
and fails under CI=true.
"""

import ipaddress
import os
import re
import subprocess
import sys

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

import check_timings  # noqa: E402
import generate  # noqa: E402

OVERLAYS = ["dev", "prod"]
NAMESPACE = "discord-platform"
MONITORING = "monitoring"
SERVICES = ["backend", "gateway", "bot"]
# The oldest Kubernetes the manifests support (the preStop `sleep` action is
# on by default from 1.30), and the newest schema kubernetes-validate ships.
KUBERNETES_VERSIONS = ["1.30.0", None]
CRD_FILES = {
    ("monitoring.coreos.com", "ServiceMonitor"): "monitoring.coreos.com_servicemonitors.yaml",
    ("monitoring.coreos.com", "PodMonitor"): "monitoring.coreos.com_podmonitors.yaml",
    ("monitoring.coreos.com", "PrometheusRule"): "monitoring.coreos.com_prometheusrules.yaml",
    ("keda.sh", "ScaledObject"): "keda.sh_scaledobjects.yaml",
    ("keda.sh", "TriggerAuthentication"): "keda.sh_triggerauthentications.yaml",
}
HELM_VALUES = {
    # our values file -> (chart defaults file, blocks the chart renders
    # verbatim into the engine's config, whose keys are the engine's own)
    # (the Grafana subchart's own keys: its defaults are not in the stack's)
    "kube-prometheus-stack-values.yaml": (
        "kube-prometheus-stack-chart-88.5.3.values.yaml",
        ["grafana.grafana.ini", "grafana.envValueFrom"],
    ),
    "loki-values.yaml": ("loki-chart-7.3.0.values.yaml", ["loki.limits_config"]),
    "tempo-distributed-values.yaml": ("tempo-distributed-chart-1.61.3.values.yaml", ["storage.trace"]),
}
# A public address of Discord's API (discord.com): the bot's connection that
# no variable names (serenity's default base URL and gateway).
DISCORD_ADDRESS = ipaddress.ip_address("162.159.137.232")
DISCORD_PORT = 443

errors = []
# check_test.py collects the errors without printing them.
VERBOSE = True


def error(message):
    errors.append(message)
    if VERBOSE:
        print(f"ERROR {message}", file=sys.stderr)


def is_ci():
    return os.environ.get("CI", "").lower() == "true"


def schemas_dir():
    path = os.environ.get("K8S_SCHEMAS_DIR") or os.path.join(REPO, "..", "shared", "schemas")
    if os.path.isdir(os.path.join(path, "crds")) and os.path.isdir(os.path.join(path, "helm-values")):
        return path
    message = (
        f"CRD schemas and chart defaults not found in {os.path.abspath(path)} "
        "(set K8S_SCHEMAS_DIR): custom resources and Helm values NOT validated"
    )
    if is_ci():
        error(message + " (required when CI=true)")
    else:
        print(f"\n!!! SKIPPED: {message} !!!\n", file=sys.stderr)
    return None


def kubectl():
    return os.environ.get("KUBECTL") or ("/usr/bin/kubectl" if os.path.exists("/usr/bin/kubectl") else "kubectl")


def render(overlay):
    path = os.path.join(HERE, "overlays", overlay)
    try:
        result = subprocess.run([kubectl(), "kustomize", path], capture_output=True, text=True)
    except FileNotFoundError:
        error(f"kubectl not found (set KUBECTL): it renders overlays/{overlay}")
        return []
    if result.returncode != 0:
        error(f"kubectl kustomize overlays/{overlay}: {result.stderr.strip()}")
        return []
    return [d for d in yaml.safe_load_all(result.stdout) if d]


def ident(document):
    meta = document.get("metadata", {})
    return f"{document.get('kind')}/{meta.get('namespace', '-')}/{meta.get('name')}"


def group_of(document):
    api = document.get("apiVersion", "")
    return api.split("/")[0] if "/" in api else ""


# --- schemas -------------------------------------------------------------


def check_core(overlay, documents):
    import kubernetes_validate

    for document in documents:
        if (group_of(document), document["kind"]) in CRD_FILES:
            continue
        for version in KUBERNETES_VERSIONS:
            version = version or kubernetes_validate.latest_version()
            try:
                kubernetes_validate.validate(document, version, strict=True)
            except kubernetes_validate.ValidationError as e:
                error(f"{overlay}: {ident(document)} (Kubernetes {version}): {e.message} at {list(e.path)}")
            except kubernetes_validate.SchemaNotFoundError:
                error(f"{overlay}: {ident(document)}: no schema for {document['apiVersion']} {document['kind']} in Kubernetes {version}")


def _strict(schema):
    """The API server's strict field validation: unknown fields are errors
    wherever the schema lists the properties and does not keep unknown ones."""
    if isinstance(schema, dict):
        schema = {k: _strict(v) for k, v in schema.items()}
        if (
            schema.get("type") == "object"
            and "properties" in schema
            and "additionalProperties" not in schema
            and not schema.get("x-kubernetes-preserve-unknown-fields")
        ):
            schema["additionalProperties"] = False
        return schema
    if isinstance(schema, list):
        return [_strict(v) for v in schema]
    return schema


def load_crd_schemas(schemas):
    loaded = {}
    for key, name in CRD_FILES.items():
        path = os.path.join(schemas, "crds", name)
        if not os.path.exists(path):
            error(f"CRD schema {path} missing")
            continue
        with open(path, encoding="utf-8") as file:
            crd = yaml.safe_load(file)
        for version in crd["spec"]["versions"]:
            loaded[(key, version["name"])] = _strict(version["schema"]["openAPIV3Schema"])
    return loaded


def check_crds(overlay, documents, crd_schemas):
    import jsonschema

    for document in documents:
        key = (group_of(document), document["kind"])
        if key not in CRD_FILES:
            continue
        version = document["apiVersion"].split("/")[-1]
        schema = crd_schemas.get((key, version))
        if schema is None:
            error(f"{overlay}: {ident(document)}: {document['apiVersion']} is not served by the CRD")
            continue
        validator = jsonschema.Draft7Validator(schema)
        for problem in sorted(validator.iter_errors(document), key=lambda e: list(e.path)):
            path = "/".join(str(p) for p in problem.path)
            error(f"{overlay}: {ident(document)}: {problem.message} at /{path}")


# --- secrets and pod security ------------------------------------------------

SECRET_NAME = re.compile(r"(PASSWORD|TOKEN|SECRET|API_KEYS?|CREDENTIALS?)$")


def pod_specs(documents):
    for document in documents:
        if document["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
            yield document, document["spec"]["template"]["spec"]
        elif document["kind"] == "CronJob":
            yield document, document["spec"]["jobTemplate"]["spec"]["template"]["spec"]


def check_secrets(overlay, documents):
    for document in documents:
        if document["kind"] == "Secret" and (document.get("data") or document.get("stringData")):
            keys = sorted({**(document.get("data") or {}), **(document.get("stringData") or {})})
            error(
                f"{overlay}: {ident(document)} holds literal values ({', '.join(keys)}): "
                "create it out of band (docs/deploy.md)"
            )
    for document, pod in pod_specs(documents):
        for container in pod.get("containers", []) + pod.get("initContainers", []):
            for var in container.get("env", []):
                if SECRET_NAME.search(var["name"]) and var.get("value"):
                    error(
                        f"{overlay}: {ident(document)}: {var['name']} is a literal value: "
                        "read it from the Secret (secretKeyRef)"
                    )


def check_pod_security(overlay, documents):
    """The restricted Pod Security Standard, plus no service account token."""
    for document, pod in pod_specs(documents):
        where = f"{overlay}: {ident(document)}"
        if pod.get("automountServiceAccountToken") is not False:
            error(f"{where}: automountServiceAccountToken must be false")
        for field in ("hostNetwork", "hostPID", "hostIPC"):
            if pod.get(field):
                error(f"{where}: {field} is not allowed")
        for volume in pod.get("volumes", []):
            if "hostPath" in volume:
                error(f"{where}: hostPath volume {volume['name']} is not allowed")
        pod_context = pod.get("securityContext", {})
        pod_seccomp = pod_context.get("seccompProfile", {}).get("type")
        for container in pod.get("containers", []) + pod.get("initContainers", []):
            context = container.get("securityContext", {})
            name = f"{where} container {container['name']}"
            if context.get("allowPrivilegeEscalation") is not False:
                error(f"{name}: allowPrivilegeEscalation must be false")
            if context.get("privileged"):
                error(f"{name}: privileged is not allowed")
            if "ALL" not in context.get("capabilities", {}).get("drop", []):
                error(f"{name}: capabilities must drop ALL")
            added = set(context.get("capabilities", {}).get("add", [])) - {"NET_BIND_SERVICE"}
            if added:
                error(f"{name}: capabilities {sorted(added)} are not allowed")
            if not (context.get("runAsNonRoot") or pod_context.get("runAsNonRoot")):
                error(f"{name}: runAsNonRoot must be true")
            if context.get("runAsUser", pod_context.get("runAsUser")) == 0:
                error(f"{name}: runAsUser 0 is not allowed")
            seccomp = context.get("seccompProfile", {}).get("type") or pod_seccomp
            if seccomp not in ("RuntimeDefault", "Localhost"):
                error(f"{name}: seccompProfile must be RuntimeDefault or Localhost")
            if container.get("ports") and any("hostPort" in p for p in container["ports"]):
                error(f"{name}: hostPort is not allowed")
    for document in documents:
        if document["kind"] == "Namespace" and document["metadata"]["name"] == NAMESPACE:
            labels = document["metadata"].get("labels", {})
            if labels.get("pod-security.kubernetes.io/enforce") != "restricted":
                error(f"{overlay}: Namespace {NAMESPACE} must enforce the restricted Pod Security Standard")


# --- network policies ------------------------------------------------------


def selector_matches(selector, labels):
    if selector is None:
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values", [])
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and labels.get(key) in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True


class Endpoint:
    """One end of a connection: a pod (namespace, labels, named ports) or an
    address outside the cluster."""

    def __init__(self, namespace=None, labels=None, ports=None, address=None):
        self.namespace = namespace
        self.labels = labels or {}
        self.ports = ports or {}
        self.address = address

    def namespace_labels(self):
        return {"kubernetes.io/metadata.name": self.namespace} if self.namespace else {}


def peer_matches(peer, endpoint, policy_namespace):
    if "ipBlock" in peer:
        if endpoint.address is None:
            return False
        block = peer["ipBlock"]
        if endpoint.address not in ipaddress.ip_network(block["cidr"]):
            return False
        return not any(endpoint.address in ipaddress.ip_network(e) for e in block.get("except", []))
    if endpoint.address is not None:
        return False
    if "namespaceSelector" in peer:
        if not selector_matches(peer["namespaceSelector"], endpoint.namespace_labels()):
            return False
    elif endpoint.namespace != policy_namespace:
        return False
    if "podSelector" in peer:
        return selector_matches(peer["podSelector"], endpoint.labels)
    return True


def ports_match(rule_ports, port, protocol, destination):
    if not rule_ports:
        return True
    for rule_port in rule_ports:
        if rule_port.get("protocol", "TCP") != protocol:
            continue
        wanted = rule_port.get("port")
        if wanted is None:
            return True
        if isinstance(wanted, str):
            wanted = destination.ports.get(wanted)
        end = rule_port.get("endPort", wanted)
        if wanted is not None and wanted <= port <= end:
            return True
    return False


def allowed(policies, source, destination, port, protocol="TCP"):
    """Whether the policies of the platform's namespace let `source` open
    `port` on `destination` (egress of the source, ingress of the
    destination; the other namespaces' policies are not ours)."""

    def side(pod, direction, peer_end, peers_key):
        if pod.namespace != NAMESPACE or pod.address is not None:
            return True
        selecting = [
            p
            for p in policies
            if selector_matches(p["spec"].get("podSelector", {}), pod.labels)
            and direction in p["spec"].get("policyTypes", ["Ingress"])
        ]
        if not selecting:
            return True
        for policy in selecting:
            for rule in policy["spec"].get(direction.lower(), []) or []:
                peers = rule.get(peers_key)
                if peers and not any(peer_matches(p, peer_end, NAMESPACE) for p in peers):
                    continue
                if ports_match(rule.get("ports"), port, protocol, destination):
                    return True
        return False

    return side(source, "Egress", destination, "to") and side(destination, "Ingress", source, "from")


def workload_endpoints(documents):
    endpoints = {}
    for document, pod in pod_specs(documents):
        labels = document["spec"]["template"]["metadata"].get("labels", {})
        ports = {
            p["name"]: p["containerPort"]
            for c in pod.get("containers", [])
            for p in c.get("ports", [])
            if "name" in p
        }
        endpoints[(document["metadata"]["namespace"], document["metadata"]["name"])] = (
            Endpoint(document["metadata"]["namespace"], labels, ports),
            pod,
        )
    return endpoints


def variables_read_by(service):
    """Environment variables named in the service's code (and telemetry's,
    which every service runs): the URLs it connects to are among them."""
    names = set()
    for crate in (service, "telemetry"):
        for root, _, files in os.walk(os.path.join(REPO, "crates", crate, "src")):
            for name in files:
                if name.endswith(".rs"):
                    with open(os.path.join(root, name), encoding="utf-8") as file:
                        names |= set(re.findall(r'"([A-Z][A-Z0-9_]{2,})"', file.read()))
    return names


# Pods the Helm charts create, by service name (resolved in check_helm_values
# from the charts' fullnameOverride): labels and the port the pod listens on.
HELM_SERVICES = {}


def resolve(host, port, documents, endpoints, overlay, what):
    """The pod behind `host:port` as seen from the platform's namespace."""
    parts = host.split(".")
    name = parts[0]
    namespace = parts[1] if len(parts) > 1 and parts[1] != "svc" else NAMESPACE
    for document in documents:
        meta = document["metadata"]
        if document["kind"] == "Service" and meta["name"] == name and meta.get("namespace") == namespace:
            for service_port in document["spec"]["ports"]:
                if service_port["port"] != port:
                    continue
                for (ns, _), (endpoint, _) in endpoints.items():
                    if ns == namespace and selector_matches(
                        {"matchLabels": document["spec"]["selector"]}, endpoint.labels
                    ):
                        target = service_port.get("targetPort", port)
                        if isinstance(target, str):
                            target = endpoint.ports.get(target)
                        return endpoint, target
                error(f"{overlay}: {what}: Service {namespace}/{name} selects no pod")
                return None, None
            error(f"{overlay}: {what}: Service {namespace}/{name} has no port {port}")
            return None, None
    if (namespace, name) in HELM_SERVICES:
        labels, pod_port = HELM_SERVICES[(namespace, name)][port] if port in HELM_SERVICES[(namespace, name)] else (None, None)
        if labels is None:
            error(f"{overlay}: {what}: {namespace}/{name} has no port {port} in its chart")
            return None, None
        return Endpoint(namespace, labels), pod_port
    error(f"{overlay}: {what}: nothing deploys {host} (neither the overlay nor a chart of helm/)")
    return None, None


URL = re.compile(r"^[a-z][a-z0-9+.-]*://(?:[^@/]*@)?([^:/?#]+)(?::(\d+))?")
DEFAULT_PORTS = {"http": 80, "https": 443, "postgres": 5432, "postgresql": 5432}


def check_network_policies(overlay, documents):
    policies = [d for d in documents if d["kind"] == "NetworkPolicy" and d["metadata"]["namespace"] == NAMESPACE]
    endpoints = workload_endpoints(documents)
    config_maps = {
        (d["metadata"].get("namespace"), d["metadata"]["name"]): d.get("data", {})
        for d in documents
        if d["kind"] == "ConfigMap"
    }
    monitoring = Endpoint(MONITORING, {"app.kubernetes.io/name": "prometheus"})
    dns = Endpoint("kube-system", {"k8s-app": "kube-dns"})
    checked = 0
    for service in SERVICES:
        if (NAMESPACE, service) not in endpoints:
            error(f"{overlay}: no workload {service}")
            continue
        source, pod = endpoints[(NAMESPACE, service)]
        reads = variables_read_by(service)
        env = {}
        for container in pod["containers"]:
            for ref in container.get("envFrom", []):
                name = ref.get("configMapRef", {}).get("name")
                env.update(config_maps.get((NAMESPACE, name), {}))
            for var in container.get("env", []):
                if "value" in var:
                    env[var["name"]] = var["value"]
                elif "secretKeyRef" in var.get("valueFrom", {}):
                    env[var["name"]] = None  # out of band
        connections = []
        for var in sorted(reads & set(env)):
            value = env[var]
            if var == "DATABASE_URL" and value is None:
                # In the Secret: the in-cluster PostgreSQL when the overlay
                # has one, else a managed database outside the cluster.
                in_cluster = any(
                    d["kind"] == "Service" and d["metadata"]["name"] == "postgres" for d in documents
                )
                value = (
                    f"postgres://postgres.{NAMESPACE}.svc.cluster.local:5432/discord"
                    if in_cluster
                    else "postgres://10.20.30.40:5432/discord"
                )
            match = URL.match(value or "")
            if not match:
                continue
            host, port = match.group(1), int(match.group(2) or DEFAULT_PORTS.get(value.split(":")[0], 80))
            what = f"{service} -> {var}={value}"
            try:
                address = ipaddress.ip_address(host)
            except ValueError:
                address = None
            if address is not None:
                connections.append((what, Endpoint(address=address), port))
                continue
            destination, target_port = resolve(host, port, documents, endpoints, overlay, what)
            if destination is not None:
                connections.append((what, destination, target_port))
        if service == "bot":
            connections.append(
                ("bot -> Discord (discord.com:443)", Endpoint(address=DISCORD_ADDRESS), DISCORD_PORT)
            )
        for what, destination, port in connections:
            checked += 1
            if not allowed(policies, source, destination, port):
                error(f"{overlay}: NetworkPolicies block {what} (port {port})")
        checked += 2
        if not allowed(policies, source, dns, 53, "UDP"):
            error(f"{overlay}: NetworkPolicies block {service} -> DNS (kube-dns:53/UDP)")
        http_port = source.ports.get("http")
        if not allowed(policies, monitoring, source, http_port):
            error(f"{overlay}: NetworkPolicies block Prometheus ({MONITORING}) -> {service}:{http_port}")
    # A connection nothing makes stays closed: the backend (no authentication
    # of its own: its API erases personal data) is reachable from the gateway
    # and Prometheus' scrapes only, not from the bot nor any other monitoring pod.
    if (NAMESPACE, "bot") in endpoints and (NAMESPACE, "backend") in endpoints:
        bot, backend = endpoints[(NAMESPACE, "bot")][0], endpoints[(NAMESPACE, "backend")][0]
        if allowed(policies, bot, backend, backend.ports.get("http")):
            error(f"{overlay}: NetworkPolicies let the bot reach the backend (only the gateway may)")
        grafana = Endpoint(MONITORING, {"app.kubernetes.io/name": "grafana"})
        if allowed(policies, grafana, backend, backend.ports.get("http")):
            error(
                f"{overlay}: NetworkPolicies let any {MONITORING} pod (e.g. Grafana) reach the backend "
                "(only Prometheus may)"
            )
    return checked


# --- Helm values ------------------------------------------------------------


def _commented_key(defaults_text, key):
    return re.search(rf"^\s*#\s*{re.escape(key)}:", defaults_text, re.M) is not None


def check_keys(ours, defaults, defaults_text, path, verbatim, where):
    for key, value in ours.items():
        dotted = f"{path}.{key}" if path else str(key)
        if any(dotted == v or dotted.startswith(v + ".") for v in verbatim):
            continue
        if defaults is None or defaults == {}:
            continue  # a free-form block of the chart (e.g. annotations)
        if not isinstance(defaults, dict):
            error(f"{where}: {dotted}: the chart's default at {path} is not a map")
            continue
        if key not in defaults:
            if _commented_key(defaults_text, key):
                continue  # documented in the defaults as a commented example
            error(f"{where}: {dotted} is not a key of the chart's values")
            continue
        if isinstance(value, dict):
            check_keys(value, defaults[key], defaults_text, dotted, verbatim, where)


def helm_values():
    loaded = {}
    for name in HELM_VALUES:
        with open(os.path.join(HERE, "helm", name), encoding="utf-8") as file:
            loaded[name] = yaml.safe_load(file)
    return loaded


def check_helm_values(schemas, values):
    for name, (defaults_name, verbatim) in HELM_VALUES.items():
        with open(os.path.join(schemas, "helm-values", defaults_name), encoding="utf-8") as file:
            text = file.read()
        check_keys(values[name], yaml.safe_load(text), text, "", verbatim, f"helm/{name}")


def check_grafana_values(values):
    """Grafana in production: its secret key from a Secret (required, never
    the public default) and its access log on."""
    grafana = values["kube-prometheus-stack-values.yaml"].get("grafana", {})
    where = "helm/kube-prometheus-stack-values.yaml: grafana"
    key = ((grafana.get("envValueFrom") or {}).get("GF_SECURITY_SECRET_KEY") or {}).get("secretKeyRef") or {}
    if not key.get("name") or not key.get("key") or key.get("optional"):
        error(f"{where}: envValueFrom.GF_SECURITY_SECRET_KEY must be a required secretKeyRef")
    ini = grafana.get("grafana.ini") or {}
    if (ini.get("server") or {}).get("router_logging") is not True:
        error(f"{where}: grafana.ini server.router_logging must be true (the access log)")
    if "context:info" not in str((ini.get("log") or {}).get("filters", "")):
        error(f"{where}: grafana.ini log.filters needs context:info (the access log's level)")


def helm_services(values):
    """The services the three charts create in the monitoring namespace,
    with their pods' labels and ports, from the names our values fix."""
    loki = values["loki-values.yaml"]
    loki_name = loki.get("fullnameOverride") or "loki"
    loki_port = (loki.get("loki", {}).get("server", {}) or {}).get("http_listen_port", 3100)
    tempo = values["tempo-distributed-values.yaml"]
    tempo_name = tempo.get("fullnameOverride") or "tempo"
    tempo_port = (tempo.get("server", {}) or {}).get("httpListenPort", 3200)
    stack = values["kube-prometheus-stack-values.yaml"]
    stack_name = stack.get("fullnameOverride") or "kube-prometheus-stack"
    services = {
        (MONITORING, f"{loki_name}-{c}"): {
            loki_port: ({"app.kubernetes.io/name": "loki", "app.kubernetes.io/component": c}, loki_port)
        }
        for c in ("write", "read", "backend")
    }
    services[(MONITORING, f"{loki_name}-gateway")] = {
        80: ({"app.kubernetes.io/name": "loki", "app.kubernetes.io/component": "gateway"}, 8080)
    }
    if tempo.get("traces", {}).get("otlp", {}).get("grpc", {}).get("enabled"):
        services[(MONITORING, f"{tempo_name}-distributor")] = {
            4317: ({"app.kubernetes.io/component": "distributor"}, 4317)
        }
    services[(MONITORING, f"{tempo_name}-query-frontend")] = {
        tempo_port: ({"app.kubernetes.io/component": "query-frontend"}, tempo_port)
    }
    services[(MONITORING, f"{stack_name}-prometheus")] = {9090: ({"app.kubernetes.io/name": "prometheus"}, 9090)}
    return services


IN_CLUSTER = re.compile(r"\b([a-z0-9-]+)\.([a-z0-9-]+)\.svc\.cluster\.local(?::(\d+))?")


def check_names(overlay, documents, values):
    """Every in-cluster name and port the overlay, the collector config and
    the values files imply is one something deploys."""
    texts = [(f"overlays/{overlay}", yaml.safe_dump_all(documents))]
    for name, value in values.items():
        texts.append((f"helm/{name}", yaml.safe_dump(value)))
    deployed = {(ns, name): set(ports) for (ns, name), ports in HELM_SERVICES.items()}
    for document in documents:
        if document["kind"] == "Service":
            key = (document["metadata"].get("namespace"), document["metadata"]["name"])
            deployed[key] = {p["port"] for p in document["spec"]["ports"]}
    for where, text in texts:
        for name, namespace, port in IN_CLUSTER.findall(text):
            if namespace not in (NAMESPACE, MONITORING):
                continue  # deployed separately (Mimir, the DNS): not ours to check
            if (namespace, name) not in deployed:
                error(f"{where}: {name}.{namespace} is deployed by neither the overlay nor a chart of helm/")
            elif port and int(port) not in deployed[(namespace, name)]:
                error(f"{where}: {name}.{namespace} has no port {port} (it has {sorted(deployed[(namespace, name)])})")


# --- the collector ------------------------------------------------------------

COLLECTOR_DIR = os.path.join(REPO, "infrastructure", "otel-collector")
# The components the configs use, all in the contrib distribution the image
# pins: an unknown type is a typo the collector would refuse at start.
COLLECTOR_COMPONENTS = {
    "receivers": {"otlp"},
    "processors": {"memory_limiter", "tail_sampling", "batch"},
    "exporters": {"otlp", "loadbalancing"},
    "extensions": {"health_check"},
}
ENV_REF = re.compile(r"\$\{env:([A-Z_][A-Z0-9_]*)\}")


def check_collector_config(name, text=None):
    """Structure of one collector config: components defined and used,
    memory_limiter first and batch last, the tail-sampling policies the
    platform relies on. Returns the environment variables it reads."""
    where = f"infrastructure/otel-collector/{name}"
    if text is None:
        with open(os.path.join(COLLECTOR_DIR, name), encoding="utf-8") as file:
            text = file.read()
    config = yaml.safe_load(text)
    service = config.get("service", {})
    used = {kind: set() for kind in COLLECTOR_COMPONENTS}
    used["extensions"] = set(service.get("extensions", []))
    for pipeline_name, pipeline in service.get("pipelines", {}).items():
        for kind in ("receivers", "processors", "exporters"):
            used[kind] |= set(pipeline.get(kind, []))
        processors = pipeline.get("processors", [])
        if processors and processors[0] != "memory_limiter":
            error(f"{where}: pipeline {pipeline_name}: memory_limiter must come first")
        if "batch" in processors and processors[-1] != "batch":
            error(f"{where}: pipeline {pipeline_name}: batch must come last")
    for kind, known in COLLECTOR_COMPONENTS.items():
        defined = set(config.get(kind) or {})
        for component in sorted(used[kind] - defined):
            error(f"{where}: {kind} {component} is used but not defined")
        for component in sorted(defined - used[kind]):
            error(f"{where}: {kind} {component} is defined but never used")
        for component in sorted(defined):
            if component.split("/")[0] not in known:
                error(f"{where}: unknown {kind[:-1]} type {component.split('/')[0]}")
    sampling = (config.get("processors") or {}).get("tail_sampling")
    if sampling is not None:
        policies = {p["type"]: p for p in sampling.get("policies", [])}
        errors_kept = policies.get("status_code", {}).get("status_code", {}).get("status_codes", [])
        if "ERROR" not in errors_kept:
            error(f"{where}: tail_sampling must keep every trace with an error (status_code ERROR)")
        if "latency" not in policies:
            error(f"{where}: tail_sampling must keep every slow trace (a latency policy)")
        if "probabilistic" not in policies:
            error(f"{where}: tail_sampling must keep a ratio of the rest (a probabilistic policy)")
    return set(ENV_REF.findall(text))


def check_collector(overlay, documents, reads):
    """The collector's config reads only variables (`reads`) its Deployment
    sets, and listens on ports its container exposes."""
    deployment = next(
        (d for d in documents if d["kind"] == "Deployment" and d["metadata"]["name"] == "otel-collector"),
        None,
    )
    if deployment is None:
        error(f"{overlay}: no otel-collector Deployment")
        return
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    env = {v["name"] for v in container.get("env", [])}
    for var in sorted(reads - env):
        error(f"{overlay}: the collector's config reads ${{env:{var}}}, which its Deployment does not set")
    with open(os.path.join(COLLECTOR_DIR, "otel-collector.yaml"), encoding="utf-8") as file:
        config = yaml.safe_load(file)
    listening = {
        int(protocol["endpoint"].rsplit(":", 1)[1])
        for protocol in config["receivers"]["otlp"]["protocols"].values()
    }
    ports = {p["containerPort"] for p in container.get("ports", [])}
    for port in sorted(listening - ports):
        error(f"{overlay}: the collector listens on {port}, which its container does not expose")


# --- main ----------------------------------------------------------------------


def main():
    schemas = schemas_dir()
    values = helm_values()
    HELM_SERVICES.update(helm_services(values))
    crd_schemas = load_crd_schemas(schemas) if schemas else {}
    collector_reads = check_collector_config("otel-collector.yaml")
    check_collector_config("otel-collector-loadbalancer.yaml")
    if schemas:
        check_helm_values(schemas, values)
    check_grafana_values(values)
    for overlay in OVERLAYS:
        documents = render(overlay)
        if not documents:
            error(f"overlays/{overlay} renders nothing")
            continue
        before = len(errors)
        check_core(overlay, documents)
        custom = sum((group_of(d), d["kind"]) in CRD_FILES for d in documents)
        if schemas:
            check_crds(overlay, documents, crd_schemas)
        check_secrets(overlay, documents)
        check_pod_security(overlay, documents)
        connections = check_network_policies(overlay, documents)
        check_names(overlay, documents, values)
        check_collector(overlay, documents, collector_reads)
        for failure in check_timings.check(documents):
            error(f"{overlay}: {failure}")
        if len(errors) == before:
            print(
                f"ok overlays/{overlay}: {len(documents)} resources ({custom} custom"
                f"{'' if schemas else ', NOT validated'}), {connections} connections allowed"
            )
    if generate.main(["--check"]) != 0:
        errors.append("generated resources drifted")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
