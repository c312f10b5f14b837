# Warnings for our own targets (not for third-party headers).
function(llmchain_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers)
endfunction()

# llmchain_module(NAME DEPS...) builds src/NAME/*.cpp into the static library llmchain_NAME.
function(llmchain_module name)
  file(GLOB_RECURSE srcs CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*.cpp)
  list(FILTER srcs EXCLUDE REGEX "/simd/")
  add_library(llmchain_${name} STATIC ${srcs})
  target_include_directories(llmchain_${name} PUBLIC ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(llmchain_${name} PUBLIC ${ARGN})
  llmchain_warnings(llmchain_${name})
endfunction()
