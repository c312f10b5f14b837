# End-to-end tests of `llmchain serve` with the official openai / @langchain/openai
# node clients (tests/e2e). Skipped (exit 77) without node/npm.
#   server_e2e        the scripted fake engine (exact outputs; llmchain-testing serve --fake-engine)
#   server_e2e_model  the real engine serving a shared model (shapes and validity)
find_program(LLMCHAIN_NODE node)
add_test(NAME server_e2e COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/run_e2e.sh)
set_tests_properties(server_e2e PROPERTIES
  ENVIRONMENT "LLMCHAIN_BIN=$<TARGET_FILE:llmchain-testing>"
  SKIP_RETURN_CODE 77
  TIMEOUT 600
  RESOURCE_LOCK e2e_node_modules
  LABELS "e2e")
set(LLMCHAIN_E2E_MODEL_FILE ${LLMCHAIN_SHARED_DIR}/models/stories260K.gguf)
if(EXISTS ${LLMCHAIN_E2E_MODEL_FILE})
  add_test(NAME server_e2e_model COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/run_e2e.sh)
  set_tests_properties(server_e2e_model PROPERTIES
    ENVIRONMENT "LLMCHAIN_BIN=$<TARGET_FILE:llmchain>;LLMCHAIN_E2E_MODEL=${LLMCHAIN_E2E_MODEL_FILE}"
    SKIP_RETURN_CODE 77
    TIMEOUT 600
    RESOURCE_LOCK e2e_node_modules
    LABELS "e2e")
endif()
