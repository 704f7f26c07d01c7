#!/usr/bin/env bash
# Build the attnplug stack from nothing: an environment, torch (only if absent),
# mmcv 2.1.0 with compiled ops (built once against the installed torch and cached),
# the OpenMMLab packages and attnplug itself (editable). Idempotent.
#
# Environment knobs:
#   ATTNPLUG_VENV     environment to make or use (default: the active $VIRTUAL_ENV or $CONDA_PREFIX,
#                     else <repo>/.venv, which sees the system torch if python3 has one)
#   ATTNPLUG_TORCH    torch requirement installed when no torch is importable (default: torch==2.13.0)
#   ATTNPLUG_CACHE    where built mmcv wheels are kept (default: ~/.cache/attnplug/wheels)
#   MAX_JOBS          parallel compile jobs for the mmcv build (default: number of cores)
#
# Usage: bash tools/setup_env.sh        (or `source` it to keep the environment active)
set -euo pipefail

_ap_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
_ap_venv="${ATTNPLUG_VENV:-${VIRTUAL_ENV:-${CONDA_PREFIX:-$_ap_root/.venv}}}"
_ap_torch="${ATTNPLUG_TORCH:-torch==2.13.0}"
_ap_cache="${ATTNPLUG_CACHE:-$HOME/.cache/attnplug/wheels}"
_ap_mmcv="2.1.0"

step() { printf '\n[attnplug setup %s] %s\n' "$1" "$2"; }
fail() {
    printf '\n[attnplug setup] FAILED: %s\n  fix: %s\n' "$1" "$2" >&2
    exit 1
}

step 1/6 "environment: $_ap_venv"
if [ ! -x "$_ap_venv/bin/python" ]; then
    venv_opts=()
    if python3 -c "import torch" 2>/dev/null; then
        # Keep the user's torch build (CUDA or not): let the new environment see it.
        echo "  python3 already has torch: the environment will use it (--system-site-packages)"
        venv_opts+=(--system-site-packages)
    fi
    python3 -m venv "${venv_opts[@]}" "$_ap_venv" || fail "could not create a virtual environment at $_ap_venv" \
        "install the venv module (Debian: apt-get install python3-venv) or set ATTNPLUG_VENV to an existing environment"
fi
PY="$_ap_venv/bin/python"
export VIRTUAL_ENV="$_ap_venv"
export PATH="$_ap_venv/bin:$PATH"
"$PY" -m pip install -q "pip>=23" "setuptools<82" wheel ninja numpy \
    || fail "pip could not install the build tools (setuptools<82, wheel, ninja)" "check that PyPI is reachable"

step 2/6 "torch"
if "$PY" -c "import torch" 2>/dev/null; then
    echo "  using the installed $("$PY" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)')"
else
    echo "  no torch in this environment: installing $_ap_torch"
    "$PY" -m pip install "$_ap_torch" "setuptools<82" \
        || fail "could not install $_ap_torch" "install the torch build you want first, or set ATTNPLUG_TORCH"
fi

step 3/6 "mmcv $_ap_mmcv with compiled ops"
have_mmcv_ops() {
    "$PY" - <<PYEOF 2>/dev/null
import mmcv
assert mmcv.__version__ == "$_ap_mmcv", mmcv.__version__
from mmcv.ops import nms, RoIAlign  # noqa: F401  (needs the compiled mmcv._ext)
PYEOF
}
if have_mmcv_ops; then
    echo "  mmcv $_ap_mmcv with ops is already importable"
else
    # A wheel is only valid for the torch (version and CUDA) it was compiled against.
    tag="$("$PY" -c 'import sys, torch; print("py%d%d-torch%s-cuda%s" % (sys.version_info[0], sys.version_info[1], torch.__version__.replace("+", "_"), torch.version.cuda or "none"))')"
    dest="$_ap_cache/$tag"
    mkdir -p "$dest"
    whl="$(ls "$dest"/mmcv-"$_ap_mmcv"-*.whl 2>/dev/null | head -n 1 || true)"
    if [ -z "$whl" ]; then
        echo "  building mmcv $_ap_mmcv from the PyPI sdist against $tag (about 9 min on 2 cores)"
        echo "  the wheel is cached in $dest; later runs reuse it"
        MMCV_WITH_OPS=1 MAX_JOBS="${MAX_JOBS:-$(nproc)}" FORCE_CUDA="$("$PY" -c 'import torch; print(int(torch.cuda.is_available()))')" \
            "$PY" -m pip wheel --no-deps --no-build-isolation -w "$dest" "mmcv==$_ap_mmcv" \
            || fail "building mmcv $_ap_mmcv failed (see the compiler output above)" \
                    "make sure gcc/g++ and the Python headers are installed; for CUDA builds nvcc must match torch.version.cuda"
        whl="$(ls "$dest"/mmcv-"$_ap_mmcv"-*.whl | head -n 1)"
    else
        echo "  reusing the cached wheel $whl"
    fi
    "$PY" -m pip install -q --no-deps --force-reinstall "$whl" || fail "could not install $whl" "delete $dest and re-run"
fi

step 4/6 "attnplug (editable) and the OpenMMLab packages"
# pip keeps the torch and mmcv already present: setup.py pins mmcv==2.1.0 and leaves torch unpinned.
"$PY" -m pip install -q -e "$_ap_root[tests]" \
    || fail "pip install -e $_ap_root failed" "read pip's message above; a conflicting mmcv/mmengine may need 'pip uninstall'"

# mmpretrain 1.2.0 (the 'pretrain' extra; mmseg's ConvNeXt configs build mmpretrain.ConvNeXt) only
# where torchvision works: `import mmpretrain.models` imports torchvision.ops at module level
# (mmpretrain/evaluation/metrics/visual_grounding_eval.py), and for torch 2.13 PyPI has only CUDA
# builds of torchvision, which fail to load with a CPU torch ("operator torchvision::nms does not
# exist"). mmpretrain declares mmcv/mmengine only under its 'mim' extra: it keeps the ones above.
if "$PY" -c "import torchvision.ops" 2>/dev/null; then
    "$PY" -m pip install -q -e "$_ap_root[pretrain]" \
        || echo "  WARNING: mmpretrain 1.2.0 could not be installed; mmpretrain.ConvNeXt will not build" >&2
else
    echo "  mmpretrain (optional) skipped: torchvision does not import with this torch (docs/any_model.md)"
fi

step 5/6 "checking the stack"
"$PY" - <<'PYEOF' || fail "the stack does not import (message above)" "re-run this script; if mmcv._ext is missing, delete the cached mmcv wheel and re-run"
import importlib, sys
checks = [
    ("mmcv compiled ops", "from mmcv.ops import nms, RoIAlign"),
    ("mmseg models", "import mmseg.models"),
    ("mmdet models", "import mmdet.models"),
    ("attnplug", "import attnplug"),
]
bad = False
for what, stmt in checks:
    try:
        exec(stmt, {})
        print(f"  ok   {what:20s} ({stmt})")
    except Exception as exc:  # report every failure, not only the first
        bad = True
        print(f"  FAIL {what:20s} ({stmt}): {type(exc).__name__}: {exc}")
sys.exit(1 if bad else 0)
PYEOF

if "$PY" -c "import mmpretrain.models" 2>/dev/null; then
    echo "  ok   mmpretrain models    (import mmpretrain.models; optional)"
else
    echo "  --   mmpretrain models    (optional, not importable: mmpretrain.ConvNeXt unavailable)"
fi

step 6/6 "done: activate with  source $_ap_venv/bin/activate"
