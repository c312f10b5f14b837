# Ordinary (non-fuzz) builds: every fuzz harness becomes NAME_replay (the harness plus
# fuzz/replay_main.cpp) and the ctest fuzz_replay_NAME runs it over fuzz/corpus/NAME/: the
# seeds and the regression inputs of crashes found by fuzzing. Label "unit", so the
# sanitizer pass runs them too. Included from the top-level CMakeLists.txt.
if(NOT LLMCHAIN_TESTS)
  return()
endif()
include(${CMAKE_CURRENT_LIST_DIR}/targets.cmake)

# A fuzz build with the tests on (the test script's sanitizer pass): the libFuzzer binaries
# replay the corpus themselves (-runs=0 runs every input once and stops).
if(LLMCHAIN_FUZZ)
  foreach(name IN LISTS LLMCHAIN_FUZZ_TARGETS)
    if(EXISTS ${CMAKE_CURRENT_LIST_DIR}/corpus/${name})
      add_test(NAME fuzz_replay_${name} COMMAND ${name}_fuzz -runs=0 -rss_limit_mb=2048 -timeout=10
                                                ${CMAKE_CURRENT_LIST_DIR}/corpus/${name})
      set_tests_properties(fuzz_replay_${name} PROPERTIES LABELS unit TIMEOUT 120)
    endif()
  endforeach()
  return()
endif()

foreach(name IN LISTS LLMCHAIN_FUZZ_TARGETS)
  llmchain_fuzz_libs(${name} libs)
  set(ok TRUE)
  foreach(lib IN LISTS libs)
    if(lib MATCHES "^llmchain_" AND NOT TARGET ${lib})
      set(ok FALSE)
    endif()
  endforeach()
  if(NOT ok OR NOT EXISTS ${CMAKE_CURRENT_LIST_DIR}/corpus/${name})
    continue()
  endif()
  add_executable(${name}_replay ${CMAKE_CURRENT_LIST_DIR}/${name}_fuzz.cpp ${CMAKE_CURRENT_LIST_DIR}/replay_main.cpp)
  target_include_directories(${name}_replay PRIVATE ${CMAKE_CURRENT_LIST_DIR})
  target_link_libraries(${name}_replay PRIVATE ${libs})
  llmchain_warnings(${name}_replay)
  add_test(NAME fuzz_replay_${name} COMMAND ${name}_replay ${CMAKE_CURRENT_LIST_DIR}/corpus/${name})
  set_tests_properties(fuzz_replay_${name} PROPERTIES LABELS unit TIMEOUT 60)
endforeach()
