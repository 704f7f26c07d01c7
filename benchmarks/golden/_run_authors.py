"""What the make_<family>.py scripts of this folder share: loading one file of the authors'
checkout, pinning its commit, running a module in both modes and writing the record
(format: tests/golden/README.md)."""
import copy
import importlib.util
import subprocess
import sys
from pathlib import Path

import torch


def load_file(path: Path, name: str, stubs=None):
    """Import one source file of the authors' checkout as the module ``name``; ``stubs``
    (``{module name: module}``) stand in for imports it makes but the layer does not use."""
    for stub_name, stub in (stubs or {}).items():
        sys.modules.setdefault(stub_name, stub)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def checkout_commit(src: Path, expected: str) -> str:
    """The checkout's commit when it is a git work tree (it must be ``expected``); a plain copy
    of the files at that commit (``git archive``) is taken to be ``expected``."""
    try:
        commit = subprocess.run(['git', '-C', str(src), 'rev-parse', 'HEAD'], check=True,
                                capture_output=True, text=True).stdout.strip()
    except (subprocess.CalledProcessError, FileNotFoundError):
        return expected
    if commit != expected:
        raise SystemExit(f'{src} is at {commit}; the record is pinned to {expected}')
    return commit


def run_modes(module, inputs):
    """The module's outputs in train and in eval mode, each from the same starting state."""
    outputs = {}
    for mode in ('train', 'eval'):
        m = copy.deepcopy(module).train(mode == 'train')
        with torch.no_grad():
            outputs[mode] = m(*inputs).detach().clone()
    return outputs


def write_record(out: Path, provenance: dict, kwargs: dict, module, inputs) -> dict:
    record = dict(provenance=provenance, authors_kwargs=kwargs,
                  state_dict={k: v.detach().clone() for k, v in module.state_dict().items()},
                  inputs=list(inputs), outputs=run_modes(module, inputs))
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(record, out)
    print(f"{out}: {provenance['repo']}@{provenance['commit'][:10]} {provenance['file']}:"
          f"{provenance['cls']} {kwargs}")
    return record
