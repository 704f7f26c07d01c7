"""What the ``make_<family>.py`` scripts of this folder share: importing one file of the
authors' checkout (pinned to a commit), seeding weights and inputs, running the module in
train and eval mode, and writing the record (format: tests/golden/README.md).

Not part of attnplug: run the scripts as ``python benchmarks/golden/make_<family>.py --src
CHECKOUT``; this folder is on their ``sys.path``. The authors' files are read from ``--src``
(a git checkout at the pinned commit, or a copy of the files at that commit); nothing of
theirs is written into this repository.
"""
import argparse
import copy
import hashlib
import importlib.util
import subprocess
import sys
import types
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
OUT_DIR = ROOT / 'tests' / 'golden' / 'authors'


def parse_args(doc: str, repo: str, commit: str, default_out: str, src_required: bool = True):
    parser = argparse.ArgumentParser(description=doc.strip().split('\n')[0])
    parser.add_argument('--src', required=src_required,
                        help=f'a checkout of https://github.com/{repo} at {commit}')
    parser.add_argument('--out', default=str(OUT_DIR / default_out))
    return parser.parse_args()


def check_commit(src: str, commit: str) -> None:
    """Refuse a git checkout at another commit (a plain copy of the files is taken as is)."""
    try:
        head = subprocess.run(['git', '-C', src, 'rev-parse', 'HEAD'], capture_output=True,
                              text=True, check=True).stdout.strip()
    except (subprocess.CalledProcessError, FileNotFoundError):
        return
    if head != commit:
        raise SystemExit(f'{src} is at {head}; the record is pinned to {commit}')


def load_file(src: str, commit: str, file: str, name: str, stubs=None, globals_=None):
    """Import ``file`` of the checkout ``src`` as the module ``name``; return it and the
    sha256 of the file. ``stubs`` (``{module name: module}``) stand in for imports the file
    makes but the recorded class does not use; ``globals_`` are names set in the module's
    namespace after it is executed (e.g. a name the authors' code reads but never defines)."""
    check_commit(src, commit)
    path = Path(src) / file
    for stub_name, stub in (stubs or {}).items():
        sys.modules[stub_name] = stub
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    for key, value in (globals_ or {}).items():
        setattr(module, key, value)
    return module, hashlib.sha256(path.read_bytes()).hexdigest()


def stub_module(name: str, **attrs) -> types.ModuleType:
    module = types.ModuleType(name)
    for key, value in attrs.items():
        setattr(module, key, value)
    return module


def seed_weights(module: torch.nn.Module, seed: int = 0, std: float = 0.3) -> torch.nn.Module:
    """Every floating parameter ``N(0, std²)``, BN running means ``N(0, 0.1²)`` and running
    variances uniform in ``[0.5, 1.5]``: ``attnplug.testing.randomise`` with ``dist='normal'``,
    so that zero-initialised gains and train/eval BN both count."""
    from attnplug.testing import randomise
    return randomise(module, seed, spread=std, dist='normal')


def seeded_input(*shape, seed: int = 1, scale: float = 1.0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed)) * scale


def run_modes(module: torch.nn.Module, inputs, modes=('train', 'eval'), pick=None):
    """The module's outputs in each mode, each from the same starting state (what a train
    pass does to BN statistics is undone before the next mode). ``pick`` selects the tensor
    from a tuple output."""
    start = copy.deepcopy(module.state_dict())
    outputs = {}
    for mode in modes:
        module.load_state_dict(start)
        module.train(mode == 'train')
        with torch.no_grad():
            out = module(*inputs)
        if pick is not None:
            out = pick(out)
        outputs[mode] = out.detach().clone().contiguous()
    module.load_state_dict(start)
    return outputs


def write_record(out: str, *, provenance: dict, authors_kwargs: dict, state_dict: dict,
                 inputs, outputs: dict) -> dict:
    """Save the record (tests/golden/README.md) and print what it holds.

    ``provenance`` has ``repo``, ``commit``, ``file``, ``cls`` and ``note``, and for the
    faithfulness column (tools/faithfulness.py) ``attnplug`` (the attnplug module and the
    argument that reproduces the reference, e.g. ``"CBAM(variant='authors')"``) and
    ``departures`` (how the reference departs from the paper, with the lines of code)."""
    record = dict(provenance=dict(provenance), authors_kwargs=dict(authors_kwargs),
                  state_dict={k: v.detach().clone().contiguous() for k, v in state_dict.items()},
                  inputs=[x.detach().clone().contiguous() for x in inputs],
                  outputs=dict(outputs))
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    torch.save(record, out)
    size = Path(out).stat().st_size
    shapes = ', '.join('x'.join(map(str, x.shape)) for x in record['inputs'])
    print(f"{out}: {provenance['repo']}@{provenance['commit'][:10]} {provenance['file']}:"
          f"{provenance['cls']} {authors_kwargs} on {shapes}; modes {sorted(outputs)}; "
          f'{size / 1024:.0f} KiB')
    return record
