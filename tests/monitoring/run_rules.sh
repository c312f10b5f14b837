#!/usr/bin/env bash
# The alerting rules (tests/monitoring.cmake): `promtool check rules` on
# deploy/monitoring/llmchain-alerts.yaml, `promtool test rules` on its unit tests (one or more
# per alert, llmchain-alerts.test.yaml), and the PrometheusRule of
# deploy/k8s/components/monitoring generated from the same file (scripts/gen_prometheus_rule.sh
# --check). Needs only promtool; exits 77 (skip) without it. Writes nothing.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
if ! command -v promtool >/dev/null 2>&1; then
  echo "promtool not found (Debian package prometheus, scripts/setup.sh): skipping the rules checks"
  exit 77
fi
promtool check rules "$ROOT/deploy/monitoring/llmchain-alerts.yaml"
# Every alert of the file needs a unit test that expects it to fire.
missing=""
while read -r a; do
  awk -v a="$a" '$1 == "alertname:" && $2 == a { n = 1 } n && /exp_labels:/ { found = 1 } $1 == "alertname:" && $2 != a { n = 0 } END { exit !found }' \
    "$HERE/llmchain-alerts.test.yaml" || missing="$missing $a"
done < <(sed -n 's/^ *- alert: *\([A-Za-z0-9_]*\).*/\1/p' "$ROOT/deploy/monitoring/llmchain-alerts.yaml")
[ -z "$missing" ] || { echo "FAIL: no unit test expects these alerts to fire:$missing" >&2; exit 1; }
(cd "$HERE" && promtool test rules llmchain-alerts.test.yaml)
bash "$ROOT/scripts/gen_prometheus_rule.sh" --check
echo "PASS"
