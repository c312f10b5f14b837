# The chain module's OpenAIClient against a live `llmchain serve -m stories260K.gguf` process
# (tests/remote_client): invoke, stream, seeds, stop strings, JSON schema, an LLMChain end to end,
# a wrong API key and a server that is down. Each test binary process starts its own server on
# a free loopback port. Skipped (GTEST_SKIP) without the shared model.
add_executable(test_remote_client ${CMAKE_CURRENT_SOURCE_DIR}/remote_client/remote_client_test.cpp)
target_include_directories(test_remote_client PRIVATE ${PROJECT_SOURCE_DIR}/src)
target_link_libraries(test_remote_client PRIVATE llmchain_chain GTest::gtest GTest::gtest_main
                                                 nlohmann_json::nlohmann_json)
target_compile_definitions(test_remote_client PRIVATE LLMCHAIN_SHARED_DIR="${LLMCHAIN_SHARED_DIR}"
                                                      LLMCHAIN_BIN="$<TARGET_FILE:llmchain>")
add_dependencies(test_remote_client llmchain)  # the server it starts
llmchain_warnings(test_remote_client)
gtest_discover_tests(test_remote_client TEST_PREFIX "remote_client." DISCOVERY_TIMEOUT 60
                     PROPERTIES LABELS integration TIMEOUT 300)
