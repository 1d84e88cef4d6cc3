#!/usr/bin/env bash
# The checks and figures that need a CUDA device, in one run, shortest first, each within
# its own time limit so that one slow step cannot use up the others' time:
#
#   1. the CUDA tests (scoring on the GPU against the host, the engine, the step);
#   2. bench_detector (b) on the GPU: the TCN step and Detector.step with the scoring on
#      the GPU and, beside it, in numpy on the host (target: >= 4M readings/s at B=8192);
#   3. the scoring on the GPU against numpy over NAB's 58 files;
#   4. with --workers: the CPU worker, the GPU worker and the GPU worker scoring on the host,
#      one after another on this host (bench_pipeline's default run each).
#
# Run from the repository root, in an environment with a CUDA build of torch installed
# (docs/operations.md, "GPU"): bash tests/benchmarks/gpu_checks.sh [--workers]
# Each step's output goes to the terminal and to $OUT/gpu_checks/ (OUT defaults to /tmp).
# Prints numbers; the only assertions are the tests' own.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
py=${PYTHON:-.venv/bin/python}
out=${OUT:-/tmp}/gpu_checks
mkdir -p "$out"
"$py" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA device: nothing to check')" || exit 1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/gpu.txt"

step() {  # step NAME SECONDS COMMAND...
  local name=$1 limit=$2
  shift 2
  echo "== $name (at most ${limit}s)"
  local start=$SECONDS
  timeout "$limit" "$@" 2>&1 | tee "$out/$name.txt"
  local rc=${PIPESTATUS[0]}
  echo "== $name: exit $rc after $((SECONDS - start))s"
}

step cuda_tests 240 "$py" -m pytest -q -p no:cacheprovider \
  tests/unit/detector/test_device_scoring.py tests/unit/detector/test_engine.py \
  tests/unit/detector/test_streaming.py -k cuda
step bench_detector 300 "$py" tests/benchmarks/bench_detector.py --sections b --device cuda
step scoring_agreement 300 "$py" -m tests.benchmarks.scoring_agreement --corpus nab --device cuda
if [ "${1:-}" = "--workers" ]; then
  for variant in "TCNAD_DEVICE=cpu" "TCNAD_DEVICE=cuda" "TCNAD_DEVICE=cuda TCNAD_SCORE_ON_DEVICE=false"; do
    args=()
    for kv in $variant; do args+=(--worker-env "$kv"); done
    step "pipeline_${variant// /_}" 420 "$py" tests/benchmarks/bench_pipeline.py "${args[@]}"
  done
fi
