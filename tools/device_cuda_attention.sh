#!/usr/bin/env bash
# The CUDA measurements of issue 26, in one command for a GPU machine that has PyTorch but no
# OpenMMLab and no network. Here first: `bash tools/device_site.sh` (packs .device_site/);
# there, from the repository root, with .device_site carried:
#     OUT=/some/dir bash tools/device_cuda_attention.sh
# 1. the CUDA tests of the bounded attention (skipped on machines without a GPU);
# 2. tools/benchmark_attention.py --compare --device cuda in bf16 autocast, then in fp32:
#    PAM, non-local and the DA/NL heads against mmseg's and mmcv's, training and inference.
# The reports land in docs/benchmarks/attention_cuda*.{csv,md} and are copied to $OUT.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH=$PWD/.device_site PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/attnplug_cuda}
mkdir -p "$OUT"
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
  python3 -c 'import sys, torch; print(sys.version.split()[0], torch.__version__, torch.version.cuda)'
} 2>&1 | tee "$OUT/env.txt"
python3 -m pytest -q -p no:cacheprovider tests/functional/test_attention_cuda.py \
  tests/test_benchmark_attention.py 2>&1 | tee "$OUT/tests.log" | tail -15
for dtype in bf16 fp32; do
  timeout "${BENCH_TIMEOUT:-270}" python3 tools/benchmark_attention.py --compare --device cuda \
    --dtype $dtype --repeats 5 --warmup 2 >"$OUT/bench_$dtype.log" 2>&1
  echo "benchmark $dtype exited $?"; tail -30 "$OUT/bench_$dtype.log"
done
cp docs/benchmarks/attention_cuda*.csv docs/benchmarks/attention_cuda*.md "$OUT/" 2>/dev/null
ls "$OUT"
