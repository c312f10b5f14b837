# CLI end-to-end checks against the goldens (needs node for JSON handling).
find_program(NODE_EXECUTABLE node)
if(NODE_EXECUTABLE)
  add_test(NAME cli_goldens COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/cli/cli_test.sh $<TARGET_FILE:llmchain> ${LLMCHAIN_SHARED_DIR})
  set_tests_properties(cli_goldens PROPERTIES LABELS "cli" TIMEOUT 600)
endif()
