#!/bin/sh
# Writes Alertmanager's configuration on stdout from the environment, so the
# receivers (and their secrets) live in the deployment's variables, not in git.
# Each receiver is on when its variable is set (see .env.example):
#   ALERT_WEBHOOK_URL          any HTTP endpoint (receives Alertmanager's JSON)
#   ALERT_SLACK_WEBHOOK_URL    Slack incoming webhook (ALERT_SLACK_CHANNEL)
#   ALERT_EMAIL_TO             e-mail (ALERT_EMAIL_FROM, ALERT_SMTP_SMARTHOST,
#                              ALERT_SMTP_USERNAME, ALERT_SMTP_PASSWORD,
#                              ALERT_SMTP_REQUIRE_TLS)
#   ALERT_WATCHDOG_URL         dead man's switch (receives Watchdog, always firing)
# None set: alerts stay visible in Alertmanager's UI, nobody is notified.
# POSIX sh only: it runs in the Alertmanager image (busybox) as its entrypoint
# (`render.sh > /tmp/alertmanager.yml && exec alertmanager …`) and in the tests.
set -eu

TEMPLATES=${ALERTMANAGER_TEMPLATES:-/etc/alertmanager/templates}
GROUP_WAIT=${ALERT_GROUP_WAIT:-30s}
GROUP_INTERVAL=${ALERT_GROUP_INTERVAL:-5m}

# A YAML double-quoted scalar.
q() { printf '"%s"' "$(printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g')"; }

receiver_configs() {
  if [ -n "${ALERT_WEBHOOK_URL:-}" ]; then
    cat <<YAML
    webhook_configs:
      - url: $(q "$ALERT_WEBHOOK_URL")
        send_resolved: true
YAML
  fi
  if [ -n "${ALERT_SLACK_WEBHOOK_URL:-}" ]; then
    cat <<YAML
    slack_configs:
      - api_url: $(q "$ALERT_SLACK_WEBHOOK_URL")
        channel: $(q "${ALERT_SLACK_CHANNEL:-#alerts}")
        send_resolved: true
        title: '{{ template "platform.title" . }}'
        text: '{{ template "platform.text" . }}'
YAML
  fi
  if [ -n "${ALERT_EMAIL_TO:-}" ]; then
    cat <<YAML
    email_configs:
      - to: $(q "$ALERT_EMAIL_TO")
        from: $(q "${ALERT_EMAIL_FROM:-alertmanager@localhost}")
        smarthost: $(q "${ALERT_SMTP_SMARTHOST:-localhost:25}")
        auth_username: $(q "${ALERT_SMTP_USERNAME:-}")
        auth_password: $(q "${ALERT_SMTP_PASSWORD:-}")
        require_tls: ${ALERT_SMTP_REQUIRE_TLS:-true}
        send_resolved: true
        headers:
          Subject: '{{ template "platform.title" . }}'
        text: '{{ template "platform.text" . }}'
YAML
  fi
}

cat <<YAML
# Rendered by infrastructure/alertmanager/render.sh from the environment.
global:
  resolve_timeout: 5m

templates:
  - $(q "$TEMPLATES/*.tmpl")

route:
  receiver: notify
  group_by: ["alertname", "job", "app"]
  group_wait: $GROUP_WAIT
  group_interval: $GROUP_INTERVAL
  repeat_interval: 4h
  routes:
    # The dead man's switch: always firing; its absence is the alert, raised
    # by the service receiving it.
    - receiver: watchdog
      matchers:
        - alertname="Watchdog"
      group_wait: 0s
      repeat_interval: 1m
    - receiver: notify
      matchers:
        - severity="critical"
      repeat_interval: 1h

receivers:
  - name: notify
$(receiver_configs)
  - name: watchdog
YAML
if [ -n "${ALERT_WATCHDOG_URL:-}" ]; then
  cat <<YAML
    webhook_configs:
      - url: $(q "$ALERT_WATCHDOG_URL")
YAML
fi
cat <<YAML

inhibit_rules:
  # A service that is down also errors and is slow: page once.
  - source_matchers:
      - alertname="ApplicationDown"
    target_matchers:
      - alertname=~"HighErrorRate|HighResponseTime|AppLogsSilent"
    equal: ["job"]
YAML
