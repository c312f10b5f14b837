# End-to-end tests of `llmchain serve` with the official openai / @langchain/openai
# node clients (tests/e2e). Skipped (exit 77) without node/npm. Uses the fake engine
# unless LLMCHAIN_E2E_MODEL is set in the environment.
find_program(LLMCHAIN_NODE node)
if(TARGET llmchain)
  add_test(NAME server_e2e COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/run_e2e.sh)
  set_tests_properties(server_e2e PROPERTIES
    ENVIRONMENT "LLMCHAIN_BIN=$<TARGET_FILE:llmchain>"
    SKIP_RETURN_CODE 77
    TIMEOUT 600
    LABELS "e2e")
endif()
