# Model tools: `llmchain pull` against a local node HTTP server (Range, 500,
# connection cut), and a perplexity/quantize CLI smoke test.
find_program(NODE_EXECUTABLE node)
if(NODE_EXECUTABLE)
  add_test(NAME tools_pull COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/tools/pull_test.sh $<TARGET_FILE:llmchain>)
  set_tests_properties(tools_pull PROPERTIES LABELS "cli" TIMEOUT 120)
endif()
add_test(NAME tools_quantize_perplexity
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/tools/quantize_perplexity_test.sh $<TARGET_FILE:llmchain>
                 ${LLMCHAIN_SHARED_DIR}/models/stories260K.gguf ${CMAKE_CURRENT_SOURCE_DIR}/data/perplexity.txt)
set_tests_properties(tools_quantize_perplexity PROPERTIES LABELS "cli" TIMEOUT 300)
