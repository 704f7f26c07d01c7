"""Write tests/golden/authors/srm.pt: the authors' SRMLayer run on seeded weights and inputs.

The authors' code is not part of attnplug: check out
https://github.com/hyunjaelee410/style-based-recalibration-module at the commit below and run

    python benchmarks/golden/make_srm.py --src PATH_TO_CHECKOUT --out tests/golden/authors/srm.pt

Their ``models/recalibration_modules.py`` imports only torch and is loaded from the checkout
as it is. The CFC weights (zero in their init) and the BN parameters and statistics are
randomised so that every weight shows in the output.
"""
import argparse
from pathlib import Path

import torch

from _run_authors import checkout_commit, load_file, write_record

REPO = 'hyunjaelee410/style-based-recalibration-module'
COMMIT = 'f6221c77e797c4530dddba03616153708d636bd1'
FILE = 'models/recalibration_modules.py'
CLS = 'SRMLayer'


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--src', type=Path, required=True, help='checkout of ' + REPO)
    parser.add_argument('--out', type=Path, default=Path('tests/golden/authors/srm.pt'))
    args = parser.parse_args(argv)
    commit = checkout_commit(args.src, COMMIT)
    authors = load_file(args.src / FILE, 'authors_srm')

    kwargs = dict(channel=64)
    torch.manual_seed(0)
    module = getattr(authors, CLS)(**kwargs)
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        module.cfc.copy_(torch.randn(module.cfc.shape, generator=gen))
        module.bn.weight.copy_(torch.rand(64, generator=gen) + 0.5)
        module.bn.bias.copy_(torch.randn(64, generator=gen) * 0.3)
        module.bn.running_mean.copy_(torch.randn(64, generator=gen) * 0.5)
        module.bn.running_var.copy_(torch.rand(64, generator=gen) + 0.5)
    inputs = [torch.randn(2, 64, 23, 31, generator=gen) * 2 + 0.5]
    provenance = dict(repo=REPO, commit=commit, file=FILE, cls=CLS,
                      note='loaded unchanged from the checkout; CFC and BN randomised')
    write_record(args.out, provenance, kwargs, module, inputs)


if __name__ == '__main__':
    main()
