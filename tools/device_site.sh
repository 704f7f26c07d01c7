#!/usr/bin/env bash
# Pack the pure-Python part of the OpenMMLab stack from .venv into .device_site/ (git-ignored),
# for a GPU machine that has PyTorch but no OpenMMLab and no network (the `device` tool of this
# workplace carries at most 64 MiB). mmcv's compiled extension (built here for the CPU torch)
# is left out; in its place .device_site/mmcv/_ext.py answers every op name with a function
# that raises, so `import mmseg.models` works and a benchmark that calls no mmcv op (PAM,
# NonLocal2d, DAHead, NLHead) runs against the real mmseg/mmcv Python code. On the GPU machine:
#     PYTHONPATH=.device_site python tools/benchmark_attention.py --compare --device cuda
set -euo pipefail
cd "$(dirname "$0")/.."
SP=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
OUT=.device_site
rm -rf "$OUT" && mkdir -p "$OUT"
for pkg in mmcv mmengine mmseg mmdet addict yapf yapf_third_party termcolor prettytable \
           wcwidth ftfy terminaltables platformdirs; do
  [ -e "$SP/$pkg" ] || { echo "device_site: $pkg is not in $SP (run tools/setup_env.sh)" >&2; exit 1; }
  cp -r "$SP/$pkg" "$OUT/"
done
find "$OUT" \( -name '*.so' -o -name '__pycache__' -o -name '.mim' \) -prune -exec rm -rf {} +
# mmdet (imported by attnplug.models) needs these compiled packages at import; the GPU
# machine's Python is 3.12 (KINDS.md of the device tool), so their cp312 wheels are unpacked.
WHEELS=$(mktemp -d)
.venv/bin/python -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
  --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 -d "$WHEELS" pycocotools==2.0.11 shapely==2.2.0
for whl in "$WHEELS"/*.whl; do .venv/bin/python -m zipfile -e "$whl" "$OUT"; done
rm -rf "$WHEELS"
cat > "$OUT/mmcv/_ext.py" <<'PY'
"""Stand-in for mmcv's compiled ops on a machine without them (tools/device_site.sh)."""


def __getattr__(name):
    if name.startswith('__'):
        raise AttributeError(name)

    def missing(*args, **kwargs):
        raise RuntimeError(f'mmcv op {name!r} is not compiled on this machine '
                           '(tools/device_site.sh packs mmcv without its extension)')
    return missing
PY
du -sh "$OUT"
