#!/usr/bin/env bash
# Writes deploy/k8s/components/monitoring/prometheusrule.yaml, the Prometheus
# Operator's PrometheusRule carrying the groups of
# deploy/monitoring/llmchain-alerts.yaml (everything from its `groups:` line on,
# indented under spec:). Run it after editing the rules file.
#   bash scripts/gen_prometheus_rule.sh           # rewrite the PrometheusRule
#   bash scripts/gen_prometheus_rule.sh --check   # exit 1 when it is out of date
set -euo pipefail
cd "$(dirname "$0")/.."
src=deploy/monitoring/llmchain-alerts.yaml
dst=deploy/k8s/components/monitoring/prometheusrule.yaml

render() {
  cat <<'HEAD'
# GENERATED from deploy/monitoring/llmchain-alerts.yaml by
# scripts/gen_prometheus_rule.sh: edit that file, then run the script.
# The Prometheus Operator loads these rules into the Prometheus whose
# ruleSelector matches this object's labels (see deploy/README.md, Monitoring).
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: llmchain
  labels:
    app.kubernetes.io/name: llmchain
spec:
HEAD
  # Blank lines stay empty (no trailing spaces); the rest moves two columns right.
  sed -n '/^groups:/,$p' "$src" | sed 's/^./  &/'
}

grep -q '^groups:' "$src" || { echo "gen_prometheus_rule: no 'groups:' line in $src" >&2; exit 1; }
if [ "${1:-}" = --check ]; then
  if ! diff -u "$dst" <(render); then
    echo "gen_prometheus_rule: $dst is out of date; run bash scripts/gen_prometheus_rule.sh" >&2
    exit 1
  fi
  echo "gen_prometheus_rule: $dst matches $src"
  exit 0
fi
mkdir -p "$(dirname "$dst")"
render >"$dst"
echo "gen_prometheus_rule: wrote $dst" >&2
