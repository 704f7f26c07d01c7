"""Write tests/golden/authors/lka.pt: VAN's spatial attention block (``Attention``, holding
``LKA``) run on seeded weights and inputs.

The authors' code is not part of attnplug: check out
https://github.com/Visual-Attention-Network/VAN-Classification at the commit below and run

    python benchmarks/golden/make_lka.py --src PATH_TO_CHECKOUT --out tests/golden/authors/lka.pt

Their ``models/van.py`` is loaded from the checkout as it is. It imports timm (for the
classification model around the block), which cannot be imported next to a CPU-only torch
here (timm imports torchvision); the five timm names it imports are replaced by stubs that
fail if called, and ``Attention``/``LKA`` call none of them. The weights are PyTorch's default
init under ``torch.manual_seed(0)`` (the block has no init of its own).
"""
import argparse
import types
from pathlib import Path

import torch

from _run_authors import checkout_commit, load_file, write_record

REPO = 'Visual-Attention-Network/VAN-Classification'
COMMIT = 'e19779b53a1b0828b51ecb4412d577541aee83a7'
FILE = 'models/van.py'
CLS = 'Attention'


def _unused(name):
    def fail(*args, **kwargs):
        raise RuntimeError(f'timm stub {name} was called: the record would not be the authors\'')
    return fail


def timm_stubs():
    """Stand-ins for ``timm.models.layers.{DropPath, to_2tuple, trunc_normal_}``,
    ``timm.models.registry.register_model`` and ``timm.models.vision_transformer._cfg``."""
    layers = types.ModuleType('timm.models.layers')
    layers.DropPath, layers.to_2tuple = _unused('DropPath'), _unused('to_2tuple')
    layers.trunc_normal_ = _unused('trunc_normal_')
    registry = types.ModuleType('timm.models.registry')
    registry.register_model = lambda fn: fn  # a decorator of the model factories only
    vit = types.ModuleType('timm.models.vision_transformer')
    vit._cfg = _unused('_cfg')
    return {'timm': types.ModuleType('timm'), 'timm.models': types.ModuleType('timm.models'),
            'timm.models.layers': layers, 'timm.models.registry': registry,
            'timm.models.vision_transformer': vit}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--src', type=Path, required=True, help='checkout of ' + REPO)
    parser.add_argument('--out', type=Path, default=Path('tests/golden/authors/lka.pt'))
    args = parser.parse_args(argv)
    commit = checkout_commit(args.src, COMMIT)
    authors = load_file(args.src / FILE, 'authors_van', stubs=timm_stubs())

    kwargs = dict(d_model=64)
    torch.manual_seed(0)
    module = getattr(authors, CLS)(**kwargs)
    gen = torch.Generator().manual_seed(1)
    inputs = [torch.randn(2, 64, 23, 31, generator=gen)]
    provenance = dict(repo=REPO, commit=commit, file=FILE, cls=CLS,
                      note='Attention (proj_1, GELU, LKA, proj_2, shortcut); timm imports '
                      'stubbed, unused; PyTorch default init under torch.manual_seed(0)')
    write_record(args.out, provenance, kwargs, module, inputs)


if __name__ == '__main__':
    main()
