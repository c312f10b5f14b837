# Browser test of the playground (tests/ui): headless Chromium via playwright-core drives
# `llmchain serve` with the stories260K model (and examples/chains.yaml). Skipped (exit 77)
# without node, /usr/bin/chromium or the model. Screenshot: ${CMAKE_BINARY_DIR}/artifacts/ui.png.
set(LLMCHAIN_UI_MODEL "${PROJECT_SOURCE_DIR}/../shared/models/stories260K.gguf" CACHE FILEPATH
    "GGUF model for the playground browser test")
add_test(NAME ui_playground COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/ui/run_ui.sh)
set_tests_properties(ui_playground PROPERTIES
  ENVIRONMENT "LLMCHAIN_BIN=$<TARGET_FILE:llmchain-testing>;LLMCHAIN_UI_MODEL=${LLMCHAIN_UI_MODEL};LLMCHAIN_UI_CONFIG=${PROJECT_SOURCE_DIR}/examples/chains.yaml;LLMCHAIN_UI_ARTIFACTS=${CMAKE_BINARY_DIR}/artifacts"
  SKIP_RETURN_CODE 77
  TIMEOUT 300
  LABELS "ui;e2e")
