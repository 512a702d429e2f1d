# The dashboard in a real browser (headless Chromium driven by playwright-core,
# tests/js/dashboard.mjs), against the real server. Labelled "browser";
# skipped (exit 77, SKIP_RETURN_CODE) where node or Chromium is missing.
sluice_shell_test(http_dashboard tests/http/test_dashboard.sh)
set_tests_properties(http_dashboard PROPERTIES LABELS "browser" TIMEOUT 300)
