# Interop with llama.cpp (tests/interop): files written by `llmchain quantize` load in llama.cpp
# and continue prompts like llmchain does; files quantized by llama.cpp load in llmchain and
# continue like llama.cpp does. llama.cpp comes from npm's node-llama-cpp 3.21.1 (prebuilt CPU
# binaries, installed into ${CMAKE_BINARY_DIR}/interop on first run). Skipped (exit 77) without
# node/npm, with Node < 20, off linux-x64, or when the npm install fails offline.
add_test(NAME interop_llamacpp COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/interop/run_interop.sh)
set_tests_properties(interop_llamacpp PROPERTIES
  ENVIRONMENT "LLMCHAIN_BIN=$<TARGET_FILE:llmchain>;LLMCHAIN_SHARED_DIR=${LLMCHAIN_SHARED_DIR};LLMCHAIN_INTEROP_DIR=${CMAKE_BINARY_DIR}/interop"
  SKIP_RETURN_CODE 77
  TIMEOUT 600
  LABELS "interop")
