#!/usr/bin/env bash
# Build the peers' virtual environment (default benchmarks/peers/.venv, gitignored) with the exact pins of
# requirements.txt. The app's environment is never touched: the project itself is used from the source tree
# through PYTHONPATH (run_peers.py sets it for its workers), not installed.
#   bash benchmarks/peers/setup.sh [VENV_DIR]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="${1:-$here/.venv}"
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade-strategy only-if-needed -r "$here/requirements.txt"
"$venv/bin/python" - <<'PY'
import captum, dattri, kronfluence, numpy, pydvl, torch, torchvision
print("peers venv ready:", {m.__name__: getattr(m, "__version__", "?") for m in
      (torch, torchvision, numpy, captum, pydvl, kronfluence, dattri)})
PY
echo "run: $venv/bin/python benchmarks/peers/run_peers.py --help"
