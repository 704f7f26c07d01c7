"""Shared by the ``make_<name>_backbone.py`` scripts: run an authors' whole backbone, built from
their checkout, on seeded weights and write its golden record (tests/golden/README.md,
"Backbone records").

The authors' ImageNet model is built at its released size. Its weights come from
``attnplug.testing.seeded_state_dict`` (the record stores the key names, shapes and seed, not the
25 M values), its stage outputs are taken with forward hooks, and the forward stops at the last
stage (the ImageNet heads, some with a fixed 7x7 pooling, never run).
"""
import importlib
import importlib.util
import subprocess
import sys
from pathlib import Path

import torch

from attnplug.testing import seeded_state_dict, state_dict_spec

#: The input of every backbone record: one image of an odd, non-square size.
INPUT_SHAPE = (1, 3, 49, 57)


class _Stop(Exception):
    pass


def commit_of(src) -> str:
    """The commit of the authors' checkout (a git work tree), or what ``--commit`` gave."""
    out = subprocess.run(['git', '-C', str(src), 'rev-parse', 'HEAD'], capture_output=True,
                         text=True)
    if out.returncode != 0:
        raise SystemExit(f'{src} is not a git checkout; pass --commit (the 40-hex commit of the '
                         'snapshot)')
    return out.stdout.strip()


def import_file(path: Path, name: str):
    """A module of the authors' checkout imported from its file (no package ``__init__`` runs)."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def import_package_module(root: Path, dotted: str):
    """``root/<dotted as path>.py`` imported as ``dotted`` with ``root`` on ``sys.path`` (for
    files with relative imports)."""
    sys.path.insert(0, str(root))
    return importlib.import_module(dotted)


def import_without_package_init(directory: Path, package: str, module: str):
    """``directory/<module>.py`` imported as ``package.module`` where ``package`` is
    ``directory`` but its ``__init__.py`` does not run (for a package whose ``__init__`` imports
    files that need more than torch); relative imports inside the directory work."""
    import types
    pkg = types.ModuleType(package)
    pkg.__path__ = [str(directory)]
    sys.modules[package] = pkg
    return importlib.import_module(f'{package}.{module}')


def record(model: torch.nn.Module, stages, provenance: dict, authors_kwargs: dict, *,
           seed: int = 0, input_shape=INPUT_SHAPE, note: str = '') -> dict:
    """Fill ``model`` with seeded weights, run it in eval mode and return the record with the
    outputs of ``stages`` (modules of ``model``, in forward order), the last one in
    ``outputs['eval']`` and all of them in ``features['eval']``."""
    spec = state_dict_spec(model.state_dict(), seed=seed)
    model.load_state_dict(seeded_state_dict(spec), strict=True)
    model.eval()
    x = torch.randn(input_shape, generator=torch.Generator().manual_seed(seed + 1))
    feats = {}

    def hook(index):
        def fn(module, args, out):
            feats[index] = out.detach().clone()
            if index == len(stages) - 1:
                raise _Stop
        return fn

    handles = [m.register_forward_hook(hook(i)) for i, m in enumerate(stages)]
    try:
        with torch.no_grad():
            model(x.clone())
    except _Stop:
        pass
    finally:
        for h in handles:
            h.remove()
    missing = [i for i in range(len(stages)) if i not in feats]
    if missing:
        raise RuntimeError(f'stage hooks {missing} never ran')
    features = [feats[i] for i in range(len(stages))]
    provenance = dict(provenance, note=note) if note else provenance
    return dict(provenance=provenance, authors_kwargs=authors_kwargs, state_dict={},
                weights=spec, inputs=[x], outputs=dict(eval=features[-1]),
                features=dict(eval=features))


def save(rec: dict, out) -> None:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(rec, out)
    shapes = [tuple(f.shape) for f in rec['features']['eval']]
    print(f'wrote {out} ({out.stat().st_size / 1e3:.0f} kB): {len(rec["weights"]["shapes"])} '
          f'weight tensors (seed {rec["weights"]["seed"]}), stage outputs {shapes}')
