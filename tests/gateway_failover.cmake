# Gateway failover: two `llmchain serve` engines and one gateway as processes on
# loopback; one engine is killed under load and restarted (tests/deploy/failover.mjs).
add_test(NAME gateway_failover COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/deploy/run_failover.sh)
set_tests_properties(gateway_failover PROPERTIES
  ENVIRONMENT "LLMCHAIN_BIN=$<TARGET_FILE:llmchain>;LLMCHAIN_MODEL=${LLMCHAIN_SHARED_DIR}/models/stories260K.gguf"
  SKIP_RETURN_CODE 77
  TIMEOUT 300
  LABELS "deploy")
# The same over gRPC: engines with --grpc-port, the gateway with grpc:// upstreams; every
# non-streamed request must succeed across the kill.
add_test(NAME gateway_failover_grpc COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/deploy/run_failover.sh)
set_tests_properties(gateway_failover_grpc PROPERTIES
  ENVIRONMENT "FAILOVER_TRANSPORT=grpc;LLMCHAIN_BIN=$<TARGET_FILE:llmchain>;LLMCHAIN_MODEL=${LLMCHAIN_SHARED_DIR}/models/stories260K.gguf"
  SKIP_RETURN_CODE 77
  TIMEOUT 300
  LABELS "deploy")
