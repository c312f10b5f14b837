# The module table of ARCHITECTURE.md, checked on the sources: which module may include which,
# the chain layer on the engine's interface only, each included module linked explicitly, no cycle,
# no file over 800 lines
# (scripts/check_layers.py).
find_program(LLMCHAIN_PYTHON3 python3)
if(LLMCHAIN_PYTHON3)
  add_test(NAME layers COMMAND ${LLMCHAIN_PYTHON3} ${PROJECT_SOURCE_DIR}/scripts/check_layers.py ${PROJECT_SOURCE_DIR})
  set_tests_properties(layers PROPERTIES LABELS "unit" TIMEOUT 60)
endif()
