#!/usr/bin/env bash
# The GPU check: import hygiene, the GPU tests, and the GPU rows of the scale benchmark, one table.
# About 7 minutes on one H200 (measured 2026-12-04, step by step: GPU tests 11 s, n = 60,000 and 20,000 about 2
# minutes, n = 40,000 with its eigendecomposition 4 minutes; Python 3.12, torch + CUDA, numpy, scipy,
# scikit-learn, pillow, pytest; no streamlit / plotly / mlxtend needed).
#
#   bash benchmarks/gpu_check.sh [--data-dir DIR] [--dry-run]
#
#   --data-dir DIR  Fashion-MNIST IDX files (train-images-idx3-ubyte.gz, ...); they must travel with the
#                   command (e.g. copied into an ignored folder of the tree). Default: Debian's
#                   /usr/share/datasets/fashion-mnist; without the files the rows use random unit rows.
#   --dry-run       everything at n = 500 on the CPU (the GPU tests skip): checks the script in < 1 min.
#
# Rows (float64): n = 20,000 and 40,000: fit, top-10 for 10,000 test images, the eigendecomposition
# (computed, then loaded by another process), slider moves; n = 60,000: fit and top-k (the
# eigendecomposition needs 5 n × n arrays, 144 GB, plus cuSOLVER's workspace: at the edge of an H200's 151 GB).
set -euo pipefail
cd "$(dirname "$0")/.."

DATA_DIR=/usr/share/datasets/fashion-mnist
DRY=0
while [ $# -gt 0 ]; do
  case "$1" in
    --data-dir) DATA_DIR="$2"; shift 2 ;;
    --dry-run) DRY=1; shift ;;
    -h|--help) sed -n 2,16p "$0"; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done

export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
export IFEXPLORER_CACHE_DIR="$WORK/cache"
START=$SECONDS

echo "== 1. the engine imports without streamlit, plotly or mlxtend"
python - <<'EOF'
import sys

BLOCKED = {"streamlit", "plotly", "mlxtend"}


class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{name} is blocked: the engine must not need it")


sys.meta_path.insert(0, Block())
import ifexplorer  # noqa: E402,F401
import ifexplorer.density, ifexplorer.dynamics, ifexplorer.influence, ifexplorer.linalg  # noqa: E401,E402,F401
import ifexplorer.spectral_store, ifexplorer.experiments.training_time  # noqa: E401,E402,F401
import torch  # noqa: E402

loaded = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
assert not loaded, loaded
print(f"ok: torch {torch.__version__}, CUDA {torch.cuda.is_available()}"
      + (f" ({torch.cuda.get_device_name(0)})" if torch.cuda.is_available() else ""))
EOF

echo "== 2. GPU tests (pytest -m gpu)"
# only modules that import no app dependencies; without CUDA every test here skips
python -m pytest -q -m gpu -p no:cacheprovider tests/test_gpu.py tests/test_influence.py tests/test_network.py || {
  rc=$?; [ "$rc" -eq 5 ] || exit "$rc"; }  # 5 = nothing collected

echo "== 3. benchmark rows"
ROWS="$WORK/rows.jsonl"
if [ "$DRY" -eq 1 ]; then
  python benchmarks/bench_scale.py --device cpu --sizes 500 --test 200 --repeats 1 --data-dir "$DATA_DIR" \
    --json "$ROWS" >/dev/null
else
  python benchmarks/bench_scale.py --device cuda --sizes 20000 40000 --test 10000 --repeats 2 \
    --parts fit topk eigh slider --data-dir "$DATA_DIR" --json "$ROWS" >/dev/null
  python benchmarks/bench_scale.py --device cuda --sizes 60000 --test 10000 --repeats 1 \
    --parts fit topk --data-dir "$DATA_DIR" --json "$ROWS" >/dev/null
fi
python benchmarks/bench_scale.py --table "$ROWS"
echo "total: $((SECONDS - START)) s"
