# Monitoring files (deploy/monitoring, deploy/k8s/components/monitoring):
#  monitoring_rules: `promtool check rules` and `promtool test rules` (a unit test per alert,
#    tests/monitoring/llmchain-alerts.test.yaml), and the PrometheusRule in sync with the rules
#    file. Seconds; skipped (77) without promtool (Debian package prometheus, scripts/setup.sh).
#  monitoring_dashboard: a live `llmchain serve` and a gateway get traffic, then every metric and
#    label the Grafana dashboard and the alerts query must be in their /metrics, and every query
#    must parse. Skipped (77) without node or promtool. Ports 0 and own temp dirs: parallel-safe.
add_test(NAME monitoring_rules COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/monitoring/run_rules.sh)
set_tests_properties(monitoring_rules PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 60 LABELS "deploy")
set(LLMCHAIN_MONITORING_MODEL ${LLMCHAIN_SHARED_DIR}/models/stories260K.gguf)
if(EXISTS ${LLMCHAIN_MONITORING_MODEL})
  add_test(NAME monitoring_dashboard COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/monitoring/run_dashboard.sh)
  set_tests_properties(monitoring_dashboard PROPERTIES
    ENVIRONMENT "LLMCHAIN_BIN=$<TARGET_FILE:llmchain>;LLMCHAIN_MODEL=${LLMCHAIN_MONITORING_MODEL};LLMCHAIN_CHAINS_CONFIG=${PROJECT_SOURCE_DIR}/examples/chains.yaml"
    SKIP_RETURN_CODE 77
    TIMEOUT 60
    LABELS "integration")
endif()
