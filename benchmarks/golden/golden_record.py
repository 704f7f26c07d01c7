"""What every ``make_<family>.py`` of this folder shares: import the authors' class from their
checkout, run it in train and eval mode, and write the record of tests/golden/README.md.

Not a module of attnplug: the scripts run as ``python benchmarks/golden/make_<family>.py``, and
their folder is on ``sys.path``.
"""
import argparse
import copy
import hashlib
import importlib.machinery
import importlib.util
import os.path as osp
import subprocess
import sys

import torch

from attnplug.testing import load_golden, randomise


def parse_args(doc: str, repo: str, commit: str, default_out: str):
    parser = argparse.ArgumentParser(description=doc.strip().split('\n')[0])
    parser.add_argument('--src', required=True, help=f'a checkout of {repo} at {commit}')
    parser.add_argument('--out', default=default_out)
    return parser.parse_args()


def load_authors_class(src: str, commit: str, file: str, cls: str, package: str = None):
    """The authors' class, imported from ``file`` of the checkout ``src`` (any file name, with
    or without ``.py``), and the sha256 of that file. A git checkout at another commit is
    refused. ``package`` imports the file as a submodule of a package made from its folder
    (for files with relative imports, ``from .common_head import *``)."""
    path = osp.join(src, file)
    head = subprocess.run(['git', '-C', src, 'rev-parse', 'HEAD'], capture_output=True,
                          text=True).stdout.strip()
    if head and head != commit:
        raise SystemExit(f'{src} is at {head}; the record is made at {commit}')
    name = f'authors_{cls}'
    if package:
        pkg = importlib.util.module_from_spec(
            importlib.machinery.ModuleSpec(package, None, is_package=True))
        pkg.__path__ = [osp.dirname(path)]
        sys.modules[package] = pkg
        name = f'{package}.{osp.splitext(osp.basename(path))[0]}'
    loader = importlib.machinery.SourceFileLoader(name, path)
    spec = importlib.util.spec_from_loader(name, loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    with open(path, 'rb') as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    return getattr(module, cls), digest


def run_both_modes(module: torch.nn.Module, inputs):
    """Outputs in train and eval mode from the same starting state (statistics that the train
    pass updates are restored before the eval pass)."""
    start = copy.deepcopy(module.state_dict())
    outputs = {}
    for mode in ('train', 'eval'):
        module.load_state_dict(start)
        module.train(mode == 'train')
        with torch.no_grad():
            outputs[mode] = module(*inputs).clone()
    module.load_state_dict(start)
    if torch.equal(outputs['train'], outputs['eval']):
        outputs['eval'] = outputs['train']  # one tensor, saved once (no mode-dependent layer)
    return outputs


def make_record(args, *, repo: str, commit: str, file: str, cls: str, kwargs: dict,
                shape, note: str, package: str = None, seed: int = 0, std: float = 0.3):
    """Build the authors' ``cls(**kwargs)``, give every parameter ``N(0, std²)`` and random BN
    statistics (:func:`attnplug.testing.randomise`, seeded), run it on a seeded ``shape``
    input in train and eval mode and write the record to ``args.out``."""
    authors_cls, digest = load_authors_class(args.src, commit, file, cls, package)
    torch.manual_seed(seed)
    module = randomise(authors_cls(**kwargs), seed=seed, spread=std, dist='normal')
    state_dict = copy.deepcopy(module.state_dict())
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(seed + 1))
    record = dict(
        provenance=dict(repo=repo, commit=commit, file=file, cls=cls, sha256=digest,
                        note=f'{note}; seeded weights N(0, {std}²) (attnplug.testing.randomise, '
                             f'seed {seed}), input randn seed {seed + 1}'),
        authors_kwargs=dict(kwargs),
        state_dict=state_dict,
        inputs=[x],
        outputs=run_both_modes(module, [x]),
    )
    torch.save(record, args.out)
    load_golden(args.out)  # the format the tests read
    diff = (record['outputs']['train'] - record['outputs']['eval']).abs().max().item()
    print(f'{args.out}: {cls} from {repo}@{commit[:10]} on {tuple(shape)}; '
          f'max |train - eval| = {diff:.3g}')
    return record
