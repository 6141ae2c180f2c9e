//! Every production configuration boots.
//!
//! Each service is started with exactly the environment a production
//! deployment file gives it: the Kubernetes prod overlay (rendered with
//! `kubectl kustomize`: ConfigMaps, Secret references, the pods' field
//! references and container env, over the image's `ENV`; the bot through
//! its StatefulSet's shell wrapper) and `docker-compose.prod.yml` (resolved by
//! `docker-compose config`, over the image's `ENV`). Only what cannot exist
//! here is rewritten: host names become the loopback addresses of the other
//! services or of in-test peers (Loki, the OTLP collector), ports become
//! ephemeral ones, and the database becomes a temporary SQLite file.
//! Secrets created out of band get a test value for exactly the keys the
//! manifests reference. A variable a service requires in production that a
//! file forgets makes the service exit, and this test fail.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::Command,
};

use serde::Deserialize as _;
use serde_norway::Value;
use testkit::{Service, ServiceBuilder, free_port, loki::LokiReceiver, otlp::OtlpReceiver};

const SERVICES: [&str; 3] = ["backend", "gateway", "bot"];
/// Where the image puts each binary (infrastructure/docker/Dockerfile).
const IMAGE_BIN_DIR: &str = "/usr/local/bin";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// One service's container as a deployment file describes it.
#[derive(Debug)]
struct Container {
    service: String,
    /// The environment the process gets, before any rewriting.
    env: BTreeMap<String, String>,
    /// The container's command and arguments when the file overrides the
    /// image's entrypoint.
    command: Vec<String>,
}

const CLIENT_KEY: &str = "client-test-key";
const BOT_KEY: &str = "bot-test-key";

/// A test value for a key of a Secret created out of band.
fn secret_test_value(key: &str) -> String {
    match key {
        // The bot's key is one of the gateway's, with both scopes; the
        // client's reaches the API only.
        "GATEWAY_API_KEYS" => format!("{CLIENT_KEY}:api,{BOT_KEY}:events+api"),
        "BOT_GATEWAY_API_KEY" => BOT_KEY.to_owned(),
        _ => format!("test-{}", key.to_ascii_lowercase().replace('_', "-")),
    }
}

fn is_ci() -> bool {
    std::env::var("CI").as_deref() == Ok("true")
}

/// True when `tool` runs; otherwise a loud skip, or a failure under CI=true.
fn tool_available(tool: &str, version_args: &str) -> bool {
    if Command::new(tool)
        .args(version_args.split_whitespace())
        .output()
        .is_ok_and(|out| out.status.success())
    {
        return true;
    }
    let message = format!("{tool} not found (scripts/install-test-deps.sh installs it)");
    assert!(!is_ci(), "{message}: required when CI=true");
    eprintln!("\n!!! SKIPPED: {message} !!!\n");
    false
}

// --- the image ----------------------------------------------------------

/// The `ENV` of the image stage `service` (and of the stages it builds on)
/// in infrastructure/docker/Dockerfile.
fn image_env(service: &str) -> BTreeMap<String, String> {
    let dockerfile = std::fs::read_to_string(repo().join("infrastructure/docker/Dockerfile"))
        .expect("read the Dockerfile");
    // Instructions with their continuation lines joined.
    let mut instructions = Vec::new();
    let mut current = String::new();
    for line in dockerfile.lines() {
        let line = line.trim();
        if line.starts_with('#') || (line.is_empty() && current.is_empty()) {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(part) => current.push_str(part),
            None => {
                current.push_str(line);
                instructions.push(std::mem::take(&mut current));
            }
        }
    }
    // stage name -> (parent stage, its ENV)
    let mut stages: BTreeMap<String, (String, BTreeMap<String, String>)> = BTreeMap::new();
    let mut stage = String::new();
    for instruction in instructions {
        let words: Vec<&str> = instruction.split_whitespace().collect();
        match words.first().map(|w| w.to_ascii_uppercase()).as_deref() {
            Some("FROM") => {
                let parent = words.get(1).copied().unwrap_or_default().to_owned();
                stage = match words.iter().position(|w| w.eq_ignore_ascii_case("AS")) {
                    Some(i) => words[i + 1].to_owned(),
                    None => String::new(),
                };
                stages.insert(stage.clone(), (parent, BTreeMap::new()));
            }
            Some("ENV") => {
                let env = &mut stages.get_mut(&stage).expect("ENV before FROM").1;
                for pair in &words[1..] {
                    let (key, value) = pair.split_once('=').expect("ENV key=value");
                    env.insert(key.to_owned(), value.to_owned());
                }
            }
            _ => {}
        }
    }
    let mut chain = Vec::new();
    let mut name = service.to_owned();
    while let Some((parent, env)) = stages.get(&name) {
        chain.push(env.clone());
        name = parent.clone();
    }
    assert!(!chain.is_empty(), "no Dockerfile stage named {service}");
    chain.into_iter().rev().flatten().collect()
}

// --- Kubernetes ------------------------------------------------------------

const PROD_OVERLAY: &str = "infrastructure/k8s/overlays/prod";

/// The prod overlay as `kubectl apply -k` would send it.
fn kubernetes_documents() -> Vec<Value> {
    let output = Command::new("kubectl")
        .arg("kustomize")
        .arg(repo().join(PROD_OVERLAY))
        .output()
        .expect("run kubectl kustomize");
    assert!(
        output.status.success(),
        "kubectl kustomize {PROD_OVERLAY} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    parse_documents(&String::from_utf8_lossy(&output.stdout))
}

fn parse_documents(text: &str) -> Vec<Value> {
    serde_norway::Deserializer::from_str(text)
        .map(|document| Value::deserialize(document).expect("valid YAML"))
        .filter(|value| !value.is_null())
        .collect()
}

fn str_of(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => String::new(),
        other => panic!("expected a scalar, got {other:?}"),
    }
}

fn kubernetes_containers(documents: &[Value]) -> Vec<Container> {
    let config_maps: BTreeMap<String, BTreeMap<String, String>> = documents
        .iter()
        .filter(|d| d["kind"] == "ConfigMap")
        .map(|d| {
            let data = d["data"]
                .as_mapping()
                .into_iter()
                .flatten()
                .map(|(k, v)| (str_of(k), str_of(v)))
                .collect();
            (str_of(&d["metadata"]["name"]), data)
        })
        .collect();
    let mut containers = Vec::new();
    for document in documents {
        let kind = str_of(&document["kind"]);
        if kind != "Deployment" && kind != "StatefulSet" {
            continue;
        }
        let workload = str_of(&document["metadata"]["name"]);
        // A StatefulSet's first pod is `<name>-0`.
        let pod_name = if kind == "StatefulSet" {
            format!("{workload}-0")
        } else {
            format!("{workload}-7d9f8c6b5-x2x4z")
        };
        let namespace = str_of(&document["metadata"]["namespace"]);
        for container in document["spec"]["template"]["spec"]["containers"]
            .as_sequence()
            .expect("containers")
        {
            let image = str_of(&container["image"]);
            let Some(service) = SERVICES
                .iter()
                .find(|s| image.contains(&format!("/{s}:")) || image.contains(&format!("/{s}@")))
            else {
                continue; // not one of the platform's services (PostgreSQL)
            };
            let mut env = image_env(service);
            for source in container["envFrom"].as_sequence().into_iter().flatten() {
                if let Some(reference) = source.get("configMapRef") {
                    let name = str_of(&reference["name"]);
                    let data = config_maps.get(&name).unwrap_or_else(|| {
                        panic!(
                            "{workload} reads ConfigMap {name}, which the manifests do not define"
                        )
                    });
                    env.extend(data.clone());
                } else {
                    panic!(
                        "{workload}: envFrom {source:?}: only ConfigMaps (secrets by secretKeyRef, so their keys are known)"
                    );
                }
            }
            for var in container["env"].as_sequence().into_iter().flatten() {
                let name = str_of(&var["name"]);
                let value = if let Some(value) = var.get("value") {
                    str_of(value)
                } else if let Some(reference) = var["valueFrom"].get("secretKeyRef") {
                    secret_test_value(&str_of(&reference["key"]))
                } else if let Some(reference) = var["valueFrom"].get("configMapKeyRef") {
                    let map = str_of(&reference["name"]);
                    let key = str_of(&reference["key"]);
                    config_maps
                        .get(&map)
                        .and_then(|data| data.get(&key))
                        .unwrap_or_else(|| {
                            panic!("{workload}: {name} reads {map}/{key}, undefined")
                        })
                        .clone()
                } else if let Some(field) = var["valueFrom"].get("fieldRef") {
                    match str_of(&field["fieldPath"]).as_str() {
                        "metadata.name" => pod_name.clone(),
                        "metadata.namespace" => namespace.clone(),
                        other => panic!("{workload}: {name}: fieldRef {other} not supported"),
                    }
                } else {
                    panic!("{workload}: {name}: unsupported env source {var:?}")
                };
                env.insert(name, value);
            }
            let command = ["command", "args"]
                .iter()
                .flat_map(|field| container[*field].as_sequence().cloned().unwrap_or_default())
                .map(|v| str_of(&v))
                .collect();
            containers.push(Container {
                service: (*service).to_owned(),
                env,
                command,
            });
        }
    }
    containers
}

// --- docker compose --------------------------------------------------------

const COMPOSE_FILE: &str = "infrastructure/docker/docker-compose.prod.yml";

/// The variables the compose file requires (`${NAME:?message}`).
fn compose_required_variables(text: &str) -> Vec<String> {
    let mut names: Vec<String> = text
        .match_indices("${")
        .filter_map(|(at, _)| {
            let rest = &text[at + 2..];
            let end = rest.find('}')?;
            let (name, _) = rest[..end].split_once(":?")?;
            Some(name.to_owned())
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

fn compose_containers() -> Vec<Container> {
    let path = repo().join(COMPOSE_FILE);
    let text = std::fs::read_to_string(&path).expect("read the prod compose file");
    // No local infrastructure/docker/.env may leak in: an empty one replaces it.
    let empty_env = std::env::temp_dir().join(format!("production-env-{}.env", std::process::id()));
    std::fs::write(&empty_env, "").expect("write an empty env file");
    let mut command = Command::new("docker-compose");
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", std::env::temp_dir())
        .arg("--env-file")
        .arg(&empty_env)
        .arg("-f")
        .arg(&path)
        .arg("config");
    for name in compose_required_variables(&text) {
        command.env(&name, secret_test_value(&name));
    }
    let output = command.output().expect("run docker-compose config");
    let _ = std::fs::remove_file(&empty_env);
    assert!(
        output.status.success(),
        "docker-compose config failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let resolved: Value = serde_norway::from_slice(&output.stdout).expect("compose config YAML");
    SERVICES
        .iter()
        .map(|service| {
            let definition = &resolved["services"][*service];
            assert!(!definition.is_null(), "{COMPOSE_FILE} defines no {service}");
            let mut env = image_env(service);
            match &definition["environment"] {
                Value::Mapping(map) => {
                    env.extend(map.iter().map(|(k, v)| (str_of(k), str_of(v))));
                }
                Value::Sequence(list) => env.extend(list.iter().map(|item| {
                    let item = str_of(item);
                    let (k, v) = item.split_once('=').unwrap_or((&item, ""));
                    (k.to_owned(), v.to_owned())
                })),
                _ => {}
            }
            let command = ["entrypoint", "command"]
                .iter()
                .flat_map(|field| {
                    definition[*field]
                        .as_sequence()
                        .cloned()
                        .unwrap_or_default()
                })
                .map(|v| str_of(&v))
                .collect();
            Container {
                service: (*service).to_owned(),
                env,
                command,
            }
        })
        .collect()
}

// --- the boot ----------------------------------------------------------------

/// Loopback stand-ins for every host a deployment file names, by the first
/// label of the host name (`loki.monitoring.svc.cluster.local` -> `loki`).
struct Peers {
    ports: BTreeMap<&'static str, u16>,
    loki: LokiReceiver,
    otlp: OtlpReceiver,
}

impl Peers {
    async fn start() -> Self {
        Self {
            ports: SERVICES.iter().map(|s| (*s, free_port())).collect(),
            loki: LokiReceiver::start().await,
            otlp: OtlpReceiver::start().await,
        }
    }

    /// `url` with its scheme and authority replaced by the stand-in's.
    fn rewrite_url(&self, var: &str, url: &str) -> String {
        let (_, rest) = url.split_once("://").expect("a URL");
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(authority_end);
        let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        let host = host.split(':').next().unwrap_or(host);
        let label = host.split('.').next().unwrap_or(host);
        let base = match label {
            "loki" | "loki-write" | "loki-gateway" => self.loki.url(),
            "otel-collector" | "tempo" => self.otlp.endpoint(),
            service => match self.ports.get(service) {
                Some(port) => format!("http://127.0.0.1:{port}"),
                None => panic!("{var}={url}: no stand-in for host {host}"),
            },
        };
        format!("{base}{path}")
    }

    /// The environment `container` runs with here.
    fn rewrite(&self, container: &Container, database: &Path) -> BTreeMap<String, String> {
        container
            .env
            .iter()
            .map(|(var, value)| {
                let value = if var == "DATABASE_URL" {
                    format!("sqlite://{}?mode=rwc", database.display())
                } else if var == "PORT" || var.ends_with("_PORT") {
                    self.ports[container.service.as_str()].to_string()
                } else if var == "HOST" {
                    "127.0.0.1".to_owned()
                } else if value.contains("://") {
                    self.rewrite_url(var, value)
                } else {
                    value.clone()
                };
                (var.clone(), value)
            })
            .collect()
    }
}

/// Starts the three services of one deployment file with its environment;
/// each must stay up and answer `/live` 200, and `/ready` 200 where its
/// dependencies run (Discord does not: the bot is live, not ready).
async fn boot(source: &str, containers: Vec<Container>) {
    for service in SERVICES {
        let count = containers.iter().filter(|c| c.service == service).count();
        assert_eq!(
            count, 1,
            "{source}: expected one {service} container, found {count}"
        );
    }
    let peers = Peers::start().await;
    let discord = testkit::discord::refusing_tokens().await;
    let dir = std::env::temp_dir().join(format!("production-env-{}-{source}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let database = dir.join("backend.db");
    let mut running: Vec<Service> = Vec::new();
    let mut bot_key = None;
    let mut gateway_metrics_token = None;
    for service in SERVICES {
        let container = containers
            .iter()
            .find(|c| c.service == service)
            .expect("found");
        let binary = testkit::binary(service);
        let image_path = format!("{IMAGE_BIN_DIR}/{service}");
        let builder = match container.command.split_first() {
            None => ServiceBuilder::new(service),
            Some((program, args)) => {
                // The file's own command, with the image's binary path
                // pointing at the built binary.
                let args: Vec<String> = args
                    .iter()
                    .map(|arg| arg.replace(&image_path, &binary.display().to_string()))
                    .collect();
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                let program = if *program == image_path {
                    binary.display().to_string()
                } else {
                    program.clone()
                };
                ServiceBuilder::with_program(service, program, &args)
            }
        };
        let env = peers.rewrite(container, &database);
        if service == "bot" {
            bot_key = env.get("GATEWAY_API_KEY").cloned();
        }
        if service == "gateway" {
            gateway_metrics_token = env.get("METRICS_TOKEN").cloned();
        }
        let mut builder = builder.current_dir(&dir);
        for (var, value) in &env {
            builder = builder.env(var, value);
        }
        if service == "bot" {
            // Discord's API is the one host no variable names: reach the
            // stand-in instead of discord.com.
            builder = builder.env("DISCORD_API_PROXY", &discord);
        }
        let mut process = builder.port(peers.ports[service]).spawn();
        process.wait_live().await;
        if service != "bot" {
            process.wait_for_status("/ready", 200).await;
        }
        running.push(process);
    }
    // Each ships its logs to where the file points Loki (JSON lines, the
    // production format).
    testkit::poll_until(
        testkit::STARTUP_DEADLINE,
        "log lines of the three services at the Loki stand-in",
        || async {
            let entries = peers.loki.entries();
            SERVICES
                .iter()
                .all(|service| {
                    entries
                        .iter()
                        .any(|e| e.labels.get("app").map(String::as_str) == Some(*service))
                })
                .then_some(())
        },
    )
    .await;
    // The key the bot gets is one the gateway accepts on both of the bot's
    // paths (a 404 from the backend behind it, not a 401 or 403), the
    // client's key reaches the API but not the event path, and the gateway
    // does check keys.
    let bot_key = bot_key.unwrap_or_else(|| panic!("{source}: the bot gets no GATEWAY_API_KEY"));
    let gateway = format!("http://127.0.0.1:{}", peers.ports["gateway"]);
    let guild = format!("{gateway}/api/guilds/123456789012345678");
    let events = serde_json::json!({"events": [{
        "type": "member_join",
        "guild_id": "123456789012345678",
        "user_id": "223456789012345678",
        "occurred_at": chrono::Utc::now().to_rfc3339(),
    }]});
    let client = testkit::http_client();
    for (key, api, events_path) in [
        (bot_key.as_str(), true, true),
        (CLIENT_KEY, true, false),
        ("not-a-key", false, false),
    ] {
        let api_status = client
            .get(&guild)
            .bearer_auth(key)
            .send()
            .await
            .expect("GET through the gateway")
            .status()
            .as_u16();
        let events_status = client
            .post(format!("{gateway}/events"))
            .bearer_auth(key)
            .json(&events)
            .send()
            .await
            .expect("POST /events")
            .status()
            .as_u16();
        assert_eq!(
            (api_status != 401 && api_status != 403, events_status == 202),
            (api, events_path),
            "{source}: the gateway answered {api_status} (API) and {events_status} (events) to key {key:?}"
        );
    }
    // The ops token the file gives guards /metrics and /health's details.
    let metrics_token = gateway_metrics_token
        .unwrap_or_else(|| panic!("{source}: the gateway gets no METRICS_TOKEN"));
    let metrics = client
        .get(format!("{gateway}/metrics"))
        .send()
        .await
        .expect("GET /metrics");
    assert_eq!(
        metrics.status().as_u16(),
        401,
        "{source}: /metrics without the token"
    );
    let metrics = client
        .get(format!("{gateway}/metrics"))
        .bearer_auth(metrics_token)
        .send()
        .await
        .expect("GET /metrics");
    assert_eq!(
        metrics.status().as_u16(),
        200,
        "{source}: /metrics with the token"
    );
    // Still up once the last one started, and none panicked.
    for process in &mut running {
        process.wait_live().await;
        let stderr = process.stderr.text();
        assert!(
            !stderr.contains("panicked"),
            "{source}: {} panicked:\n{stderr}",
            process.name
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_kubernetes_production_environment_boots() {
    if !tool_available("kubectl", "version --client") {
        return;
    }
    boot("kubernetes", kubernetes_containers(&kubernetes_documents())).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_compose_production_environment_boots() {
    if !tool_available("docker-compose", "version") {
        return;
    }
    boot("compose", compose_containers()).await;
}

#[test]
fn required_compose_variables_are_found() {
    let names = compose_required_variables("a: ${A:?set A}\nb: ${B:-x}\nc: ${C:?}\nd: ${A:?again}");
    assert_eq!(names, ["A", "C"]);
}

/// The job names the prod overlay's ServiceMonitors give (`jobLabel`: the
/// Service's label of that name), by service.
fn service_monitor_jobs(documents: &[Value]) -> BTreeMap<String, String> {
    let services: Vec<&Value> = documents
        .iter()
        .filter(|d| d["kind"] == "Service")
        .collect();
    documents
        .iter()
        .filter(|d| d["kind"] == "ServiceMonitor")
        .map(|monitor| {
            let selector = &monitor["spec"]["selector"]["matchLabels"];
            let service = services
                .iter()
                .find(|s| {
                    selector.as_mapping().into_iter().flatten().all(|(k, v)| {
                        s["metadata"]["labels"]
                            .get(k)
                            .is_some_and(|label| label == v)
                    })
                })
                .unwrap_or_else(|| {
                    panic!(
                        "ServiceMonitor {:?} selects no Service",
                        monitor["metadata"]["name"]
                    )
                });
            let job_label = str_of(&monitor["spec"]["jobLabel"]);
            let job = if job_label.is_empty() {
                str_of(&service["metadata"]["name"])
            } else {
                str_of(&service["metadata"]["labels"][job_label.as_str()])
            };
            (str_of(&service["metadata"]["name"]), job)
        })
        .collect()
}

/// KEDA scales backend and gateway on PromQL in the prod overlay: each
/// query, sent to a real Prometheus scraping the real services under the
/// job names the ServiceMonitors give, returns data (a renamed metric or a
/// job label nobody sets would leave the autoscaler blind).
#[tokio::test(flavor = "multi_thread")]
async fn the_autoscaling_queries_have_data_on_a_real_prometheus() {
    if !tool_available("kubectl", "version --client") || !testkit::prometheus::tools_available() {
        return;
    }
    let documents = kubernetes_documents();
    let jobs = service_monitor_jobs(&documents);
    for service in SERVICES {
        assert_eq!(
            jobs.get(service).map(String::as_str),
            Some(service),
            "{jobs:?}"
        );
    }
    let queries: Vec<(String, String)> = documents
        .iter()
        .filter(|d| d["kind"] == "ScaledObject")
        .flat_map(|scaled| {
            let target = str_of(&scaled["spec"]["scaleTargetRef"]["name"]);
            scaled["spec"]["triggers"]
                .as_sequence()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter(|trigger| trigger["type"] == "prometheus")
                .map(move |trigger| (target.clone(), str_of(&trigger["metadata"]["query"])))
        })
        .collect();
    assert!(
        queries.len() >= 2,
        "expected a Prometheus trigger for backend and gateway: {queries:?}"
    );

    let dir = std::env::temp_dir().join(format!("production-env-{}-keda", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let mut backend = ServiceBuilder::new("backend")
        .env(
            "DATABASE_URL",
            format!("sqlite://{}/backend.db?mode=rwc", dir.display()),
        )
        .spawn();
    backend.wait_live().await;
    let mut gateway = ServiceBuilder::new("gateway")
        .env("BACKEND_URL", backend.url(""))
        .spawn();
    gateway.wait_live().await;
    let client = testkit::http_client();
    for service in [&backend, &gateway] {
        for _ in 0..3 {
            client
                .get(service.url("/health"))
                .send()
                .await
                .expect("GET /health");
        }
    }
    let config = testkit::prometheus::scrape_config(
        "1s",
        &[
            testkit::prometheus::ScrapeJob::new(&jobs["backend"], backend.port),
            testkit::prometheus::ScrapeJob::new(&jobs["gateway"], gateway.port),
        ],
        &[],
    );
    let prometheus = testkit::prometheus::Prometheus::start(&config).await;
    for (target, query) in &queries {
        let result = prometheus
            .wait_for_data(query, testkit::STARTUP_DEADLINE)
            .await;
        assert!(
            !result.is_empty(),
            "ScaledObject {target}: no data for {query}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
