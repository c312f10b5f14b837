# The fuzz harnesses and what each links; shared by the libFuzzer build (fuzz/CMakeLists.txt)
# and the replay tests of ordinary builds (fuzz/replay.cmake). Harness NAME lives in
# fuzz/NAME_fuzz.cpp; its seeds and regression inputs in fuzz/corpus/NAME/.
set(LLMCHAIN_FUZZ_TARGETS gguf json_schema gbnf regex chat_template yaml_chain guards http_request)
# Libraries built with coverage instrumentation in fuzz builds.
set(LLMCHAIN_FUZZ_LIBRARIES llmchain_base llmchain_gguf llmchain_sampling llmchain_chat llmchain_engine_api llmchain_chain
    llmchain_server llmchain_fakes)

# llmchain_fuzz_libs(NAME OUT): the libraries harness NAME links.
function(llmchain_fuzz_libs name out)
  if(name STREQUAL "gguf")
    set(libs llmchain_gguf llmchain_base)
  elseif(name MATCHES "^(json_schema|gbnf|regex)$")
    set(libs llmchain_sampling llmchain_base nlohmann_json::nlohmann_json)
  elseif(name STREQUAL "chat_template")
    set(libs llmchain_chat llmchain_base nlohmann_json::nlohmann_json)
  elseif(name MATCHES "^(yaml_chain|guards)$")
    set(libs llmchain_chain llmchain_base nlohmann_json::nlohmann_json)
  elseif(name STREQUAL "http_request")
    set(libs llmchain_server llmchain_fakes llmchain_chain llmchain_base nlohmann_json::nlohmann_json)
  else()
    message(FATAL_ERROR "fuzz/targets.cmake: no libraries listed for harness '${name}'")
  endif()
  set(${out} ${libs} PARENT_SCOPE)
endfunction()
