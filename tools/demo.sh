#!/usr/bin/env bash
# The README's main job, from nothing:
#   0. set up the stack (tools/setup_env.sh; idempotent)
#   1. generate the bundled datasets (data/generate.py; skipped when already there)
#   2. train an attention-augmented segmentor with tools/train.py for a short schedule
#   3. test its checkpoint with tools/test.py
#   4. print the metrics and where the work dir, the log and the checkpoints are
# Override the model with DEMO_CONFIG=..., the output with DEMO_WORK_DIR=...
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
CONFIG="${DEMO_CONFIG:-configs/cbam/fcn_r18-w32-d8-cbam_1xb4-300iter_cityscapes-bundled-128x256.py}"
WORK_DIR="${DEMO_WORK_DIR:-work_dirs/demo}"

bash tools/setup_env.sh
PY="${ATTNPLUG_VENV:-${VIRTUAL_ENV:-${CONDA_PREFIX:-$ROOT/.venv}}}/bin/python"

printf '\n[attnplug demo 1/4] bundled data\n'
"$PY" data/generate.py --root data --datasets cityscapes

printf '\n[attnplug demo 2/4] train %s\n' "$CONFIG"
start=$(date +%s)
"$PY" tools/train.py "$CONFIG" --work-dir "$WORK_DIR"
train_s=$(( $(date +%s) - start ))
CKPT="$(cat "$WORK_DIR/last_checkpoint")"

printf '\n[attnplug demo 3/4] test %s\n' "$CKPT"
start=$(date +%s)
"$PY" tools/test.py "$CONFIG" "$CKPT" --work-dir "$WORK_DIR/test" --show-dir "$WORK_DIR/test/show"
test_s=$(( $(date +%s) - start ))

printf '\n[attnplug demo 4/4] summary\n'
"$PY" tools/summarize_run.py "$WORK_DIR" --train-seconds "$train_s" --test-seconds "$test_s"
