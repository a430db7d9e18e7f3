#!/usr/bin/env bash
# Install Debian's Chromium and its ChromeDriver for the report page's browser tests
# (tests/test_report_html.py, driven by Selenium's WebDriver).  Idempotent: installs only
# what is missing.
#
#   bash .ci/browser.sh     # then: DASKFFT_REQUIRE_BROWSER=1 pytest tests/test_report_html.py
set -euo pipefail

if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
  echo "browser: $(chromium --version 2>/dev/null), chromedriver there" >&2
  exit 0
fi
echo "browser: installing chromium chromium-driver" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
echo "browser: $(chromium --version 2>/dev/null)" >&2
