#!/usr/bin/env bash
# `make check-infra`: proves infrastructure/ against the real tools available
# without a container engine. Run by `make test`; installs nothing (see
# scripts/install-test-deps.sh) except the npm packages of checks/ (`npm ci`).
set -euo pipefail
cd "$(dirname "$0")"

step() { printf '\n== %s\n' "$*"; }
fail() { echo "check-infra: $*" >&2; exit 1; }
for tool in promtool amtool node npm docker-compose; do
  command -v "$tool" >/dev/null 2>&1 || fail "$tool not found: run scripts/install-test-deps.sh"
done

step "promtool check config"
promtool check config prometheus/prometheus.yml prometheus/prometheus.apps.yml
# The production file reads METRICS_TOKEN from a file the compose entrypoint
# writes at start: syntax only (rule files are checked below).
promtool check config --syntax-only prometheus/prometheus.prod.yml

step "promtool check rules"
promtool check rules prometheus/rules/*.yml

step "promtool test rules"
promtool test rules prometheus/tests/*.yml

step "amtool check-config (rendered from the environment: no receiver, then every receiver)"
rendered=$(mktemp -d)
trap 'rm -rf "$rendered"' EXIT
ALERTMANAGER_TEMPLATES="$PWD/alertmanager/templates" sh alertmanager/render.sh >"$rendered/none.yml"
ALERTMANAGER_TEMPLATES="$PWD/alertmanager/templates" \
  ALERT_WEBHOOK_URL=http://pager-bridge:8080/alert \
  ALERT_SLACK_WEBHOOK_URL=https://hooks.slack.com/services/T000/B000/XXXX ALERT_SLACK_CHANNEL='#ops' \
  ALERT_EMAIL_TO=oncall@example.com ALERT_EMAIL_FROM=alerts@example.com ALERT_SMTP_SMARTHOST=smtp.example.com:587 \
  ALERT_SMTP_USERNAME=alerts ALERT_SMTP_PASSWORD='p"a\ss' ALERT_WATCHDOG_URL=https://hc-ping.com/uuid \
  sh alertmanager/render.sh >"$rendered/all.yml"
amtool check-config "$rendered/none.yml" "$rendered/all.yml"
grep -q 'slack_configs' "$rendered/all.yml" && grep -q 'email_configs' "$rendered/all.yml" && grep -q 'webhook_configs' "$rendered/all.yml" \
  || fail "render.sh did not enable every receiver"
! grep -q '_configs' "$rendered/none.yml" || fail "render.sh enabled a receiver with no variable set"
amtool template render --template.glob='alertmanager/templates/*.tmpl' \
  --template.text='{{ template "platform.title" . }}{{ template "platform.text" . }}' >/dev/null

step "LogQL (Grafana's grammar), dashboards, Loki/Tempo configs"
(
  cd checks
  # Reinstall only when the lockfile changed since the last install.
  if ! cmp -s package-lock.json node_modules/.installed-lock.json 2>/dev/null; then
    npm ci --no-audit --no-fund --loglevel=error
    cp package-lock.json node_modules/.installed-lock.json
  fi
  node --test
  node check.mjs
)

step "compose files (docker-compose schema and interpolation, no engine needed)"
# The services' variables have defaults; nothing from the caller's env or a
# local .env leaks in (an empty --env-file replaces docker/.env).
empty_env=$(mktemp)
trap 'rm -f "$empty_env"; rm -rf "$rendered"' EXIT
env -i PATH="$PATH" docker-compose --env-file "$empty_env" -f docker/docker-compose.yml --profile apps config -q
echo "docker/docker-compose.yml: valid"
# Every production secret is required: without any one of them (the others
# set), compose refuses to start and names it. Grafana's secret key among
# them: its built-in default is public.
prod_secrets=(GF_SECURITY_ADMIN_PASSWORD=check GF_SECURITY_SECRET_KEY=check LOG_HASH_SALT=check
  GATEWAY_API_KEYS=check BOT_GATEWAY_API_KEY=check METRICS_TOKEN=check)
for secret in "${prod_secrets[@]}"; do
  name=${secret%%=*}
  others=()
  for other in "${prod_secrets[@]}"; do [ "$other" = "$secret" ] || others+=("$other"); done
  if out=$(env -i PATH="$PATH" "${others[@]}" docker-compose --env-file "$empty_env" -f docker/docker-compose.prod.yml config -q 2>&1); then
    fail "docker/docker-compose.prod.yml must refuse to start without $name"
  fi
  grep -q "set $name" <<<"$out" || fail "unexpected compose error without $name: $out"
done
echo "docker/docker-compose.prod.yml: refused without any one of ${prod_secrets[*]%%=*}"
prod_config=$(env -i PATH="$PATH" "${prod_secrets[@]}" docker-compose --env-file "$empty_env" -f docker/docker-compose.prod.yml config)
echo "docker/docker-compose.prod.yml: valid with them"
# Grafana logs every request (not only errors) at a level its filters keep.
grep -Eq "^      GF_SERVER_ROUTER_LOGGING: ['\"]?true['\"]?$" <<<"$prod_config" \
  || fail "docker/docker-compose.prod.yml: Grafana needs GF_SERVER_ROUTER_LOGGING=true (its access log)"
grep -Eq "^      GF_LOG_FILTERS: .*context:(info|debug)" <<<"$prod_config" \
  || fail "docker/docker-compose.prod.yml: Grafana's request lines are written at info by the context logger: GF_LOG_FILTERS needs context:info"
echo "docker/docker-compose.prod.yml: Grafana's access log is on"
published=$(awk '/^  [a-z-]+:$/ {svc=$1} /^    ports:/ {print svc}' <<<"$prod_config" | tr -d ':' | sort -u | tr '\n' ' ')
[ "$published" = "grafana " ] || fail "production publishes ports for: $published(only grafana may)"
echo "docker/docker-compose.prod.yml: only grafana publishes a port"

echo
echo "check-infra: OK"
