# The dashboard in a real browser (headless Chromium driven by playwright-core,
# tests/js/dashboard.mjs), against the real server. Labelled "browser";
# skipped (exit 77, SKIP_RETURN_CODE) where node or Chromium is missing.
add_test(NAME http_dashboard COMMAND bash ${CMAKE_SOURCE_DIR}/tests/http/test_dashboard.sh $<TARGET_FILE:sluice> ${CMAKE_SOURCE_DIR})
set_tests_properties(http_dashboard PROPERTIES LABELS "browser" TIMEOUT 300)
