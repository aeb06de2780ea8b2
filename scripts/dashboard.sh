#!/usr/bin/env bash
# Installs what the dashboard needs (once) and starts it on http://localhost:8501.
# The first start generates the demo dataset, embeds it and trains a default model.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh" requirements.txt
exec .venv/bin/streamlit run app.py "$@"
