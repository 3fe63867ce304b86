# Sourced by scripts/test: Debian's headless Chromium and its WebDriver server,
# for the web page tests (crates/executor-cli/tests/cli/web/). Exports
# OPENCLAW_TEST_CHROMIUM and OPENCLAW_TEST_CHROMEDRIVER.
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
    apt_install chromium chromium-driver
fi
need chromium "chromium"
need chromedriver "chromium-driver"
OPENCLAW_TEST_CHROMIUM=$(command -v chromium)
OPENCLAW_TEST_CHROMEDRIVER=$(command -v chromedriver)
export OPENCLAW_TEST_CHROMIUM OPENCLAW_TEST_CHROMEDRIVER
