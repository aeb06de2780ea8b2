#!/usr/bin/env bash
# Installs what the tests need (once; Chromium from Debian for the browser test) and runs the whole suite.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh" requirements-dev.txt
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "[recengine] installing Debian chromium + chromium-driver for the browser test" >&2
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; } \
            || echo "[recengine] could not install chromium: the browser test will skip" >&2
    else
        echo "[recengine] chromium/chromedriver missing and cannot apt-get them: the browser test will skip" >&2
    fi
fi
exec .venv/bin/python -m pytest "$@"
