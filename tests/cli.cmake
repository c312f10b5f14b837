# CLI end-to-end checks against the goldens (needs node for JSON handling).
find_program(NODE_EXECUTABLE node)
if(NODE_EXECUTABLE)
  add_test(NAME cli_goldens COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/cli/cli_test.sh $<TARGET_FILE:llmchain> ${LLMCHAIN_SHARED_DIR})
  set_tests_properties(cli_goldens PROPERTIES LABELS "cli" TIMEOUT 600)
  # Exit codes and clean stdout of every subcommand (good input, usage error, missing/corrupt file).
  add_test(NAME cli_contract COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/cli/contract_test.sh $<TARGET_FILE:llmchain>
                                     ${LLMCHAIN_SHARED_DIR} ${PROJECT_SOURCE_DIR})
  set_tests_properties(cli_contract PROPERTIES LABELS "cli" TIMEOUT 120)
endif()
