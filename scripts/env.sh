#!/usr/bin/env bash
# Creates .venv (Python 3.11) and installs the pinned requirements into it, once per change of the
# requirement files. Sourced by dashboard.sh and test.sh; $1 is the requirements file to install.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
python_bin="${PYTHON:-$(command -v python3.11 || command -v python3)}"
if [ ! -x .venv/bin/python ]; then
    echo "[recengine] creating .venv with $python_bin" >&2
    "$python_bin" -m venv .venv
fi
stamp=".venv/.installed-$(cat "$1" requirements.txt pyproject.toml | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
    echo "[recengine] installing $1 into .venv (first run: about 2 minutes)" >&2
    # torch first, from its pinned CPU wheel, so nothing else can pull a CUDA build.
    .venv/bin/pip install --quiet "torch==2.13.0"
    .venv/bin/pip install --quiet -r "$1" -e .
    touch "$stamp"
fi
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
