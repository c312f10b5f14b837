# /metrics of real `llmchain serve` processes (tests/metrics/run_metrics.sh): role all with
# stories260K and examples/chains.yaml (chat, completion and a chain invoke, which must add to
# the token counters), then a gateway in front of it; both expositions must pass
# `promtool check metrics` (Debian package prometheus, from scripts/setup.sh; the test fails
# without it). Servers bind port 0 and use their own temp dirs: safe in parallel.
set(LLMCHAIN_METRICS_MODEL ${LLMCHAIN_SHARED_DIR}/models/stories260K.gguf)
if(EXISTS ${LLMCHAIN_METRICS_MODEL})
  add_test(NAME server_metrics COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/metrics/run_metrics.sh)
  set_tests_properties(server_metrics PROPERTIES
    ENVIRONMENT "LLMCHAIN_BIN=$<TARGET_FILE:llmchain>;LLMCHAIN_MODEL=${LLMCHAIN_METRICS_MODEL};LLMCHAIN_CHAINS_CONFIG=${PROJECT_SOURCE_DIR}/examples/chains.yaml"
    TIMEOUT 60
    LABELS "integration")
endif()
