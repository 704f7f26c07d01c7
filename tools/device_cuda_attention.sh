#!/usr/bin/env bash
# The CUDA measurements of issue 26, in one command for a GPU machine that has PyTorch but no
# OpenMMLab and no network. Here first: `bash tools/device_site.sh` (packs .device_site/);
# there, from the repository root, with .device_site carried:
#     OUT=/some/dir bash tools/device_cuda_attention.sh
# 1. the CUDA tests of the bounded attention (skipped on machines without a GPU);
# 2. tools/benchmark_attention.py --compare --device cuda in bf16 autocast, then in fp32:
#    PAM, non-local and the DA/NL heads against mmseg's and mmcv's, training and inference
#    (docs/benchmarks/attention_cuda*.{csv,md});
# 3. the backends' kernel table on CUDA (bf16, forward and forward + backward): naive, fused
#    SDPA, SDPA with the values split into heads, chunked, the FlashAttention-2 function;
# 4. the tile shapes of the FlashAttention-2 forward on PAM's q, k, v (--tiles, fp32).
# Everything, with the logs and the machine's description, is packed into $OUT/run.tgz.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH=$PWD/.device_site PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/attnplug_cuda}
RUN=$(mktemp -d)
mkdir -p "$OUT"
{ date -u '+%Y-%m-%d %H:%M UTC'
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
  python3 -c 'import sys, torch; print(sys.version.split()[0], torch.__version__, torch.version.cuda)'
  git log -1 --format='commit %H' 2>/dev/null
} 2>&1 | tee "$RUN/env.txt"
python3 -m pytest -q -p no:cacheprovider tests/functional/test_attention_cuda.py \
  tests/test_benchmark_attention.py 2>&1 | tee "$RUN/tests.log" | tail -3
for dtype in bf16 fp32; do
  timeout "${BENCH_TIMEOUT:-200}" python3 tools/benchmark_attention.py --compare --device cuda \
    --dtype $dtype --repeats 5 --warmup 2 >"$RUN/bench_$dtype.log" 2>&1
  echo "benchmark $dtype exited $?"; grep -A 12 '^## Goals' "$RUN/bench_$dtype.log"
done
for grad in "" --grad; do
  timeout 60 python3 tools/benchmark_attention.py $grad --device cuda --dtype bf16 \
    --no-fresh-process >"$RUN/kernels_bf16${grad:+_grad}.jsonl" 2>&1
done
timeout 90 python3 tools/benchmark_attention.py --tiles --device cuda --rounds 2 --repeats 2 \
  --warmup 1 >"$RUN/tiles.log" 2>&1
echo "tiles exited $?"
cp docs/benchmarks/attention_cuda*.csv docs/benchmarks/attention_cuda*.md \
  docs/benchmarks/attention_tiles_cuda.* "$RUN/" 2>/dev/null
tar czf "$OUT/run.tgz" -C "$RUN" . && ls "$RUN"
