"""Write tests/golden/authors/external-attention.pt: the authors' PyTorch External_attention
run on seeded weights and inputs.

The authors' code is not part of attnplug: check out https://github.com/MenghaoGuo/EANet at
the commit below and run

    python benchmarks/golden/make_external_attention.py --src PATH_TO_CHECKOUT \\
        --out tests/golden/authors/external-attention.pt

Their ``model_torch.py`` (the PyTorch code; the repository's Jittor code is not used) is
loaded from the checkout as it is, with their ``settings.py`` next to it. It imports
``SynchronizedBatchNorm2d`` from ``bn_lib``, which the repository does not ship; a stub maps it
to ``torch.nn.BatchNorm2d`` (a synchronised BN on one process computes the same). The weights
are their init under ``torch.manual_seed(0)`` (``linear_1`` tied to ``linear_0`` as in their
code); the BN is randomised so that it shows in the eval output.
"""
import argparse
import sys
import types
from pathlib import Path

import torch
import torch.nn as nn

from _run_authors import checkout_commit, load_file, write_record

REPO = 'MenghaoGuo/EANet'
COMMIT = '59c03cb0a286d3a29a797f8ea07fb89d7af56b60'
FILE = 'model_torch.py'
CLS = 'External_attention'


def bn_lib_stubs():
    modules = types.ModuleType('bn_lib.nn.modules')
    modules.SynchronizedBatchNorm2d = nn.BatchNorm2d
    return {'bn_lib': types.ModuleType('bn_lib'), 'bn_lib.nn': types.ModuleType('bn_lib.nn'),
            'bn_lib.nn.modules': modules}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--src', type=Path, required=True, help='checkout of ' + REPO)
    parser.add_argument('--out', type=Path,
                        default=Path('tests/golden/authors/external-attention.pt'))
    args = parser.parse_args(argv)
    commit = checkout_commit(args.src, COMMIT)
    sys.path.insert(0, str(args.src))  # their `import settings`
    authors = load_file(args.src / FILE, 'authors_eanet', stubs=bn_lib_stubs())

    kwargs = dict(c=64)
    torch.manual_seed(0)
    module = getattr(authors, CLS)(**kwargs)
    assert module.linear_0.weight.data_ptr() == module.linear_1.weight.data_ptr()  # their tie
    gen = torch.Generator().manual_seed(1)
    bn = module.conv2[1]
    with torch.no_grad():
        bn.weight.copy_(torch.rand(64, generator=gen) + 0.5)
        bn.bias.copy_(torch.randn(64, generator=gen) * 0.3)
        bn.running_mean.copy_(torch.randn(64, generator=gen) * 0.3)
        bn.running_var.copy_(torch.rand(64, generator=gen) + 0.5)
    inputs = [torch.randn(2, 64, 23, 31, generator=gen)]
    provenance = dict(repo=REPO, commit=commit, file=FILE, cls=CLS,
                      note='PyTorch code (not Jittor); bn_lib SyncBN stubbed by nn.BatchNorm2d; '
                      'their init under torch.manual_seed(0), BN randomised; '
                      'attnplug equivalent: ExternalAttention(64, act_cfg=ReLU)')
    write_record(args.out, provenance, kwargs, module, inputs)


if __name__ == '__main__':
    main()
