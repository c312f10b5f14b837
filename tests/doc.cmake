# README doc-test: every shell command of README.md, deploy/README.md and the usage comments of
# examples/*.yaml, run as a user would type it (tests/doc/doctest.mjs).
find_program(NODE_EXECUTABLE node)
if(NODE_EXECUTABLE)
  add_test(NAME readme_doctest
           COMMAND ${NODE_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/doc/doctest.mjs --bin $<TARGET_FILE:llmchain>
                   --shared ${LLMCHAIN_SHARED_DIR})
  set_tests_properties(readme_doctest PROPERTIES LABELS "doc" TIMEOUT 900 SKIP_RETURN_CODE 77)
endif()
