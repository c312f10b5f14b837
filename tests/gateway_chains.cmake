# Gateway chains: two `llmchain serve` engines (stories260K) and `llmchain serve --role gateway
# --chains FILE` as processes on loopback; chains invoked and streamed through the gateway must
# give the engines' own output (tests/deploy/gateway_chains.mjs). Skipped (77) without node or
# the model.
add_test(NAME gateway_chains COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/deploy/run_gateway_chains.sh)
set_tests_properties(gateway_chains PROPERTIES
  ENVIRONMENT "LLMCHAIN_BIN=$<TARGET_FILE:llmchain>;LLMCHAIN_MODEL=${LLMCHAIN_SHARED_DIR}/models/stories260K.gguf"
  SKIP_RETURN_CODE 77
  TIMEOUT 240
  LABELS "deploy")
