#!/usr/bin/env bash
# The bundled-data benchmark: every bundled segmentation head and every bundled detection plugin,
# trained and tested over seeds on the benchmark schedules, then the two leaderboards (mean ± std,
# 95% intervals against the baseline) and the docs re-rendered from them.
#
#   bash tools/benchmark_bundled.sh                    # everything, seeds 0 1 2
#   SEEDS="0" BENCH_ITERS=2 bash tools/benchmark_bundled.sh   # a smoke pass over the same configs
#   STOP_AFTER=120 bash tools/benchmark_bundled.sh     # start no run after 120 min, then rebuild
#
# 1. the bundled Cityscapes- and COCO-layout data (data/generate.py; skipped when there);
# 2. segmentation: tools/benchmark_learning.py --task seg over configs/*/*cityscapes-bundled*.py
#    (FCN baseline, DANet, CCNet, non-local, FCN+CBAM/SE heads, CBAM in the backbone, UNet and
#    Attention U-Net, SegFormer MiT with and without CBAM through attnplug.WithPlugins) on
#    configs/_base_/schedules/schedule_1200iter.py -> docs/benchmarks/learning_seg_bundled.{md,csv};
# 3. detection: tools/benchmark_learning.py --task det over configs/*/faster-rcnn_r18*_coco-bundled.py
#    (Faster R-CNN R-18 and each backbone plugin) on
#    configs/_base_/schedules/schedule_det_adamw-200iter_256x160.py
#    -> docs/benchmarks/learning_det_bundled.{md,csv}; then RTMDet (CSPNeXt) with and without
#    CBAM through attnplug.WithPlugins, on its own recipe -> docs/benchmarks/learning_rtmdet_bundled.*;
#    then a placement sweep (tools/sweep.py: CBAM and SE x stage sets x positions in the FCN)
#    -> docs/leaderboard/sweep-fcn-r18-cbam-se-cityscapes-bundled/;
# 4. tools/leaderboard.py over the committed run rows -> docs/leaderboard/{cityscapes,coco}-bundled/,
#    the segmentation one counting each config's seeds above the cue-blind level that
#    tools/cue_chance.py computes from the val labels (docs/benchmarks/cue_chance.{md,json});
# 5. tools/render_docs.py: every generated block of the docs from the new artefacts.
# What the whole benchmark costs, summed over all sittings from the committed rows (CPU and wall
# hours per part, the missing runs estimated), goes into
# docs/benchmarks/benchmark_bundled_cost.{md,csv} (tools/benchmark_cost.py); this sitting's wall
# time into docs/benchmarks/benchmark_bundled_wall_time.txt (with how many runs were made and
# how many reused), and each step's into the header of its table.
#
# STOP_AFTER (minutes) bounds a sitting: no run starts after it (the runs in flight finish), the
# runs left are listed as not started, and the leaderboards and docs are still rebuilt from every
# committed row; the next sitting goes on from there.
# Runs go JOBS (default 2) at a time, each with cores / JOBS threads. Every finished run's row is
# kept in docs/benchmarks/runs/{seg,det}/<name>/seed<k>.json (the sweep's beside its leaderboard);
# the leaderboards are built from those committed rows, and a run whose row (or finished work
# dir) is there is not repeated (--reuse), so the benchmark can be finished over several
# sittings. Delete the rows to redo runs. Work dirs: work_dirs/benchmark_{seg,det}/<name>/seed<k>/.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
PY="${ATTNPLUG_VENV:-${VIRTUAL_ENV:-${CONDA_PREFIX:-$ROOT/.venv}}}/bin/python"
[ -x "$PY" ] || { bash tools/setup_env.sh; }
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
read -r -a SEED_LIST <<< "${SEEDS:-0 1 2}"
JOBS="${JOBS:-2}"  # runs at a time; each gets cores / JOBS threads
ITERS="${BENCH_ITERS:-}"
SEG_SCHEDULE=configs/_base_/schedules/schedule_1200iter.py
DET_SCHEDULE=configs/_base_/schedules/schedule_det_adamw-200iter_256x160.py
# RTMDet (CSPNeXt) with and without CBAM through attnplug.WithPlugins: not in --task det's default
# configs, it keeps its own recipe (step 3b).
RTMDET_CONFIGS=(configs/rtmdet/rtmdet_cspnext-w16_300iter_coco-bundled.py
                configs/with_plugins/rtmdet_cspnext-w16-cbam-c3-c5_300iter_coco-bundled.py)
SWEEP_DIR=configs/sweeps/fcn-r18-cbam-se
SEG_ROOT=work_dirs/benchmark_seg
DET_ROOT=work_dirs/benchmark_det
OUT=docs
if [ -n "$ITERS" ]; then  # a smoke pass writes next to the work dirs, never over the docs
    OUT=work_dirs/benchmark_smoke
    sched=(--iters "$ITERS")
    det_sched=(--iters "$ITERS")
    sweep_sched=(--iters "$ITERS")
else
    sched=(--schedule "$SEG_SCHEDULE")
    det_sched=(--schedule "$DET_SCHEDULE")
    sweep_sched=()  # the base config's own 300 iterations
fi
start=$(date +%s)
STOP_AFTER="${STOP_AFTER:-}"
# --stop-after with the minutes left of this sitting's STOP_AFTER (nothing when it is unset)
stop_after() {
    [ -n "$STOP_AFTER" ] || return 0
    awk -v s="$start" -v m="$STOP_AFTER" -v n="$(date +%s)" \
        'BEGIN { r = m - (n - s) / 60; printf "--stop-after %.2f", (r > 0 ? r : 0) }'
}
count_rows() { find "$OUT/benchmarks/runs" -name 'seed*.json' 2>/dev/null | wc -l; }
rows_before=$(count_rows)

printf '\n[benchmark 1/5] bundled data\n'
"$PY" data/generate.py --root data --datasets cityscapes coco

printf '\n[benchmark 2/5] segmentation heads, seeds %s\n' "${SEED_LIST[*]}"
"$PY" tools/benchmark_learning.py --task seg --reuse --jobs "$JOBS" $(stop_after) --seeds "${SEED_LIST[@]}" "${sched[@]}" \
    --work-root "$SEG_ROOT" --out "$OUT/benchmarks/learning_seg_bundled"

printf '\n[benchmark 3/5] detection plugins, seeds %s\n' "${SEED_LIST[*]}"
"$PY" tools/benchmark_learning.py --task det --reuse --jobs "$JOBS" $(stop_after) --seeds "${SEED_LIST[@]}" "${det_sched[@]}" \
    --work-root "$DET_ROOT" --out "$OUT/benchmarks/learning_det_bundled"

# RTMDet (CSPNeXt, with and without CBAM through attnplug.WithPlugins) keeps its own recipe
# (AdamW, its pipelines): the Faster R-CNN schedule overlay above would replace it.
printf '\n[benchmark 3b/5] RTMDet (CSPNeXt) with WithPlugins, seeds %s\n' "${SEED_LIST[*]}"
"$PY" tools/benchmark_learning.py --task det --reuse --jobs "$JOBS" $(stop_after) --seeds "${SEED_LIST[@]}" \
    ${ITERS:+--iters "$ITERS"} --work-root "$DET_ROOT" --out "$OUT/benchmarks/learning_rtmdet_bundled" \
    --configs "${RTMDET_CONFIGS[@]}"

# Where should attention go? CBAM and SE over two stage sets x two positions in the FCN baseline,
# on the base config's own 300-iteration schedule (27 runs: the 1200-iteration schedule would
# cost about as much as the whole segmentation benchmark); its configs are committed in
# configs/sweeps/.
printf '\n[benchmark 3c/5] placement sweep (CBAM, SE x stages x positions), seeds %s\n' "${SEED_LIST[*]}"
"$PY" tools/sweep.py configs/fcn/fcn_r18-w32-d8_1xb4-300iter_cityscapes-bundled-128x256.py \
    --modules CBAM SqueezeExcitation --stages 0011 1111 --positions after_conv2 after_stage \
    --seeds "${SEED_LIST[@]}" ${sweep_sched[@]+"${sweep_sched[@]}"} --jobs "$JOBS" --reuse $(stop_after) \
    --config-dir "$SWEEP_DIR" --work-root work_dirs/sweep_fcn_cbam_se \
    --out-dir "$OUT/leaderboard/sweep-fcn-r18-cbam-se-cityscapes-bundled"

printf '\n[benchmark 4/5] leaderboards\n'
# The cue-class score that 95% of the draws of any cue-blind prediction stay under
# (docs/benchmarks/cue_chance.md): the segmentation leaderboard counts each config's seeds above it.
cue_level=$("$PY" tools/cue_chance.py --data-root data/cityscapes \
    --out "$OUT/benchmarks/cue_chance" --print p95)
"$PY" tools/leaderboard.py "$OUT"/benchmarks/runs/seg/*/ \
    --out-dir "$OUT/leaderboard/cityscapes-bundled" --metric mIoU \
    --seeds-above cue_classes_mIoU="$cue_level"
"$PY" tools/leaderboard.py "$OUT"/benchmarks/runs/det/*/ \
    --out-dir "$OUT/leaderboard/coco-bundled" --metric coco/bbox_mAP

# What the whole benchmark costs, summed over every sitting from the committed rows (this
# sitting's wall time alone says little when the benchmark was finished over several).
n_seeds=${#SEED_LIST[@]}
n_seg=$("$PY" tools/benchmark_learning.py --task seg --list | wc -l)
n_det=$(( $("$PY" tools/benchmark_learning.py --task det --list | wc -l) + ${#RTMDET_CONFIGS[@]} ))
n_sweep=$(( $(ls "$SWEEP_DIR"/*.py | wc -l) + 1 ))  # + the base config
"$PY" tools/benchmark_cost.py seg="$OUT/benchmarks/runs/seg" det="$OUT/benchmarks/runs/det" \
    sweep="$OUT/leaderboard/sweep-fcn-r18-cbam-se-cityscapes-bundled/runs" \
    --planned seg=$((n_seg * n_seeds)) det=$((n_det * n_seeds)) sweep=$((n_sweep * n_seeds)) \
    --jobs "$JOBS" --out "$OUT/benchmarks/benchmark_bundled_cost"
wall=$(( $(date +%s) - start ))
mkdir -p "$OUT/benchmarks"
rows_after=$(count_rows)
printf 'tools/benchmark_bundled.sh: %d s wall (%.1f h) on %s, %s runs at a time, seeds %s, finished %s; %d runs made, %d reused from earlier sittings\n' \
    "$wall" "$(awk "BEGIN{print $wall/3600}")" "$(nproc) cores" "$JOBS" "${SEED_LIST[*]}" \
    "$(date -u '+%Y-%m-%d %H:%M UTC')" "$((rows_after - rows_before))" "$rows_before" \
    > "$OUT/benchmarks/benchmark_bundled_wall_time.txt"
cat "$OUT/benchmarks/benchmark_bundled_wall_time.txt"

if [ -z "$ITERS" ]; then
    printf '\n[benchmark 5/5] docs re-rendered from the new artefacts\n'
    "$PY" tools/render_docs.py
fi
printf '\nwritten: %s/benchmarks/learning_{seg,det}_bundled.{md,csv}, %s/leaderboard/{cityscapes,coco}-bundled/\n' "$OUT" "$OUT"
