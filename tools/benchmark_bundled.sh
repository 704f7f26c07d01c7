#!/usr/bin/env bash
# The bundled-data benchmark: every segmentation head and every detection plugin trained and
# tested on one schedule and one seed, then the two leaderboards.
#
#   bash tools/benchmark_bundled.sh            # everything (about 1.5 h on an idle 2-core CPU)
#   BENCH_ITERS=20 bash tools/benchmark_bundled.sh   # a quick pass over the same configs
#
# 1. the bundled Cityscapes- and COCO-layout data (data/generate.py; skipped when there);
# 2. segmentation: tools/benchmark_learning.py over configs/*/*cityscapes-bundled*.py (FCN
#    baseline, DANet, CCNet, non-local, FCN+CBAM/SE heads, CBAM in the backbone, UNet and
#    Attention U-Net), the learning table -> docs/benchmarks/learning_bundled.{md,csv};
# 3. detection: tools/train.py then tools/test.py for configs/*/faster-rcnn_r18*_coco-bundled.py
#    (the Faster R-CNN R-18 baseline and each backbone plugin), logs in each work dir;
# 4. tools/leaderboard.py over each set of work dirs -> docs/leaderboard/{cityscapes,coco}-bundled/;
# 5. FCN, DANet and non-local heads again with a 4x longer schedule (1200 iterations)
#    -> docs/benchmarks/learning_bundled_1200iter.{md,csv} (skipped when BENCH_ITERS is set).
#
# A config whose work dir already holds a test result is not run again (delete its work dir to
# redo it). Work dirs: work_dirs/benchmark_learning/<config> and work_dirs/benchmark_det/<config>.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
PY="${ATTNPLUG_VENV:-${VIRTUAL_ENV:-${CONDA_PREFIX:-$ROOT/.venv}}}/bin/python"
[ -x "$PY" ] || { bash tools/setup_env.sh; }
ITERS="${BENCH_ITERS:-}"
SEG_ROOT=work_dirs/benchmark_learning
DET_ROOT=work_dirs/benchmark_det

printf '\n[benchmark 1/5] bundled data\n'
"$PY" data/generate.py --root data --datasets cityscapes coco

printf '\n[benchmark 2/5] segmentation heads\n'
"$PY" tools/benchmark_learning.py --reuse --work-root "$SEG_ROOT" ${ITERS:+--iters "$ITERS"}

printf '\n[benchmark 3/5] detection plugins\n'
mapfile -t DET_CONFIGS < <(ls configs/*/faster-rcnn_r18*_300iter_coco-bundled.py)
det_opts=()
if [ -n "$ITERS" ]; then
    det_opts=(--cfg-options "train_cfg.max_iters=$ITERS" "train_cfg.val_interval=$ITERS"
              "default_hooks.checkpoint.interval=$ITERS")
fi
i=0
for cfg in "${DET_CONFIGS[@]}"; do
    i=$((i + 1))
    name="$(basename "$cfg" .py)"
    work="$DET_ROOT/$name"
    if compgen -G "$work/test/2*/2*.json" > /dev/null; then
        printf '  [%d/%d] %s: tested already, kept\n' "$i" "${#DET_CONFIGS[@]}" "$name"
        continue
    fi
    printf '  [%d/%d] %s: train' "$i" "${#DET_CONFIGS[@]}" "$name"
    start=$(date +%s)
    mkdir -p "$work"
    "$PY" tools/train.py "$cfg" --work-dir "$work" "${det_opts[@]}" > "$work/train.log" 2>&1 \
        || { printf '\n  train failed, see %s/train.log\n' "$work"; tail -5 "$work/train.log"; exit 1; }
    printf ' %ss, test' "$(( $(date +%s) - start ))"
    start=$(date +%s)
    "$PY" tools/test.py "$cfg" "$(cat "$work/last_checkpoint")" --work-dir "$work/test" \
        > "$work/test.log" 2>&1 \
        || { printf '\n  test failed, see %s/test.log\n' "$work"; tail -5 "$work/test.log"; exit 1; }
    printf ' %ss: %s\n' "$(( $(date +%s) - start ))" \
        "$(grep -o 'coco/bbox_mAP: [0-9.]*' "$work/test.log" | tail -1)"
done

printf '\n[benchmark 4/5] leaderboards\n'
"$PY" tools/leaderboard.py "$SEG_ROOT"/*/ --out-dir docs/leaderboard/cityscapes-bundled \
    --shape 128 256 --metric mIoU
"$PY" tools/leaderboard.py "$DET_ROOT"/*/ --out-dir docs/leaderboard/coco-bundled \
    --shape 256 427 --metric coco/bbox_mAP
if [ -z "$ITERS" ]; then
    printf '\n[benchmark 5/5] longer schedule: FCN, DANet, non-local at 1200 iterations\n'
    "$PY" tools/benchmark_learning.py --reuse --iters 1200 \
        --configs configs/fcn/fcn_r18-w32-d8_1xb4-300iter_cityscapes-bundled-128x256.py \
        configs/danet/danet_r18-w32-d8_1xb4-300iter_cityscapes-bundled-128x256.py \
        configs/nonlocal_net/nonlocal_r18-w32-d8_1xb4-300iter_cityscapes-bundled-128x256.py \
        --work-root work_dirs/benchmark_learning_1200iter \
        --out docs/benchmarks/learning_bundled_1200iter
fi
printf '\nwritten: docs/benchmarks/learning_bundled*.{md,csv}, docs/leaderboard/{cityscapes,coco}-bundled/\n'
