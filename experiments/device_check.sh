#!/usr/bin/env bash
# The one prepared device call (issue 20): on an NVIDIA GPU, in at most ~8 minutes of wall clock,
#   1. the GPU-relevant tests (attention paths, bf16 mixed precision, transformers compatibility),
#      fp32 at matmul precision 'highest';
#   2. device parity: the encoder and every adapter method on the GPU vs the CPU fp32 reference on
#      the same inputs (fp32 max |Δ| ≤ 1e-4; bf16 incl. cuDNN attention ≤ 5% of the hidden std);
#   3. the `gpu` reproduction suite (configs/reproduce.py:gpu), cut at the deadline if need be
#      (finished sections are still rendered);
# writing report.md, headline.json, results.json, parity.json and device_check.log under $OUT.
#
#   bash experiments/device_check.sh --fetch-wheels   # HERE, before the call: wheels the image lacks -> .whl/
#   bash experiments/device_check.sh                  # THERE (device tool, carry [".whl"], timeout_s 600)
#   JAX_PLATFORMS=cpu bash experiments/device_check.sh --tiny   # CPU dry run: same stages, gpu_tiny suite
#
# The image has jax/flax/optax/orbax/transformers 5/torch/peft but no ml_collections and no
# AdapterHub: ml_collections is installed from .whl into /tmp/site; AdapterHub (with the
# transformers 4.57 / hub / tokenizers it pins) from .whl/adapterhub into /tmp/site_ah, used for the
# suite only if it imports beside the image's torch -- else the suite's PyTorch side is HF + peft.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
MODE=${1:-}
PY=${PYTHON:-python3}

if [[ "$MODE" == "--fetch-wheels" ]]; then
  # Python 3.12 x86-64 wheels (the image's interpreter); no dependencies: each one is named.
  grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
  dl() { $PY -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
           --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
           -d "$1" "${@:2}"; }
  dl .whl ml_collections==1.1.0 && \
  dl .whl/adapterhub adapters==1.3.0 transformers==4.57.6 huggingface-hub==0.36.2 tokenizers==0.22.2 && \
  du -sh .whl && exit 0
  exit 1
fi

TINY=${DEVICE_CHECK_TINY:-0}
[[ "$MODE" == "--tiny" ]] && TINY=1
OUT=${OUT:-$ROOT/runs/device_check}
mkdir -p "$OUT"
LOG=$OUT/device_check.log
START=$(date +%s)
BUDGET=${DEVICE_CHECK_BUDGET_S:-470}   # the whole script; the suite gets what the earlier stages left
left() { echo $(( BUDGET - ($(date +%s) - START) )); }
say() { echo "[device_check $(( $(date +%s) - START ))s] $*" | tee -a "$LOG"; }
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false PYTHONUNBUFFERED=1
# JAX and torch share the GPU in one process: JAX's default preallocation (75%) would starve torch.
export XLA_PYTHON_CLIENT_MEM_FRACTION=${XLA_PYTHON_CLIENT_MEM_FRACTION:-0.45}
: > "$LOG"

# --- 0. carried wheels and the environment ------------------------------------------------------
if compgen -G ".whl/*.whl" > /dev/null; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    >> "$LOG" 2>&1 && export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH=$ROOT${PYTHONPATH:+:$PYTHONPATH}   # the project itself, not installed
SUITE_PATH=$PYTHONPATH
if compgen -G ".whl/adapterhub/*.whl" > /dev/null; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site_ah \
    .whl/adapterhub/*.whl >> "$LOG" 2>&1
  if PYTHONPATH=/tmp/site_ah:$PYTHONPATH $PY -c "import adapters, torch, transformers" >> "$LOG" 2>&1; then
    SUITE_PATH=/tmp/site_ah:$PYTHONPATH
    say "AdapterHub imports beside the image's torch: the suite's PyTorch side uses it"
  else
    say "AdapterHub does not import here (see the log): the suite's PyTorch side is HF + peft"
  fi
fi
$PY - >> "$LOG" 2>&1 <<'EOF'
import importlib.metadata as md, jax
print("devices:", jax.devices())
for n in ("jax", "jaxlib", "flax", "optax", "orbax-checkpoint", "transformers", "tokenizers", "huggingface-hub",
          "ml_collections", "numpy", "torch", "peft", "adapters"):  # metadata only: importing torch costs time
    try:
        print(n, md.version(n))
    except md.PackageNotFoundError:
        print(n, "absent")
EOF
say "environment: $(grep -E '^(devices|jax |transformers |torch )' "$LOG" | tr '\n' ' ')"

# --- 1. tests ------------------------------------------------------------------------------------
TESTS=${DEVICE_CHECK_TESTS:-"tests/models/test_attention.py tests/training/test_bf16.py tests/test_transformers_compat.py tests/models/test_encoder.py"}
if [[ "$TESTS" == none ]]; then
  say "tests skipped (DEVICE_CHECK_TESTS=none)"
else
  say "tests: $TESTS"
  JAX_DEFAULT_MATMUL_PRECISION=highest timeout $(( $(left) / 4 )) $PY -m pytest -q -p no:cacheprovider \
    -o addopts="" $TESTS >> "$LOG" 2>&1
  say "tests exit $? ($(grep -E '[0-9]+ (passed|failed)' "$LOG" | tail -1))"
fi
command -v nvidia-smi > /dev/null && nvidia-smi --query-gpu=name,clocks.sm,clocks.mem,temperature.gpu --format=csv >> "$LOG" 2>&1

# --- 2. parity against the CPU reference ---------------------------------------------------------
timeout $(( $(left) / 3 )) $PY -c "import sys; from flax_adapters_lab.reproduce import parity
sys.exit(parity.main('$OUT/parity.json', '${DEVICE_CHECK_PARITY_ADAPTERS:-}'))" \
  >> "$LOG" 2>&1
say "parity exit $? ($(grep '^parity on' "$LOG" | tail -1))"

# --- 3. the gpu suite, cut at the deadline ---------------------------------------------------------
SUITE=gpu; [[ "$TINY" == 1 ]] && SUITE=gpu_tiny
WORK=${DEVICE_CHECK_WORKDIR:-/tmp/device_check_suite}
say "suite $SUITE into $WORK, $(( $(left) - 15 )) s left for it"
PYTHONPATH=$SUITE_PATH timeout $(( $(left) - 15 )) $PY experiments/reproduce.py --config=configs/reproduce.py:$SUITE \
  --workdir="$WORK" ${DEVICE_CHECK_SUITE_ARGS:-} >> "$LOG" 2>&1
RC=$?
say "suite exit $RC"
if [[ $RC != 0 && -f "$WORK/results.json" ]]; then   # cut short: render what finished
  PYTHONPATH=$SUITE_PATH $PY -c "
import json, pathlib; from flax_adapters_lab.reproduce import gpu_report
w = pathlib.Path('$WORK'); gpu_report.write(json.loads((w / 'results.json').read_text()), w)" >> "$LOG" 2>&1
  say "partial report rendered"
fi
for f in report.md headline.json results.json; do [[ -f "$WORK/$f" ]] && cp "$WORK/$f" "$OUT/"; done
say "done; $OUT holds: $(ls "$OUT" | tr '\n' ' ')"
