"""Write tests/golden/authors/psa-parallel.pt and psa-sequential.pt: the authors' PSA_p and
PSA_s run on seeded weights and inputs.

The authors' code is not part of attnplug: check out https://github.com/DeLightCMU/PSA at the
commit below and run

    python benchmarks/golden/make_psa.py --src PATH_TO_CHECKOUT --out-dir tests/golden/authors

Their ``semantic-segmentation/network/PSA.py`` imports only torch and is loaded from the
checkout as it is. The weights are their own init under ``torch.manual_seed(0)``; the
sequential variant's LayerNorm is randomised (it starts at 1 and 0).
"""
import argparse
from pathlib import Path

import torch

from _run_authors import checkout_commit, load_file, write_record

REPO = 'DeLightCMU/PSA'
COMMIT = '20e307ad708ae6a39239aa50ffa32e0c36c92894'
FILE = 'semantic-segmentation/network/PSA.py'
CLASSES = {'parallel': 'PSA_p', 'sequential': 'PSA_s'}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--src', type=Path, required=True, help='checkout of ' + REPO)
    parser.add_argument('--out-dir', type=Path, default=Path('tests/golden/authors'))
    args = parser.parse_args(argv)
    commit = checkout_commit(args.src, COMMIT)
    authors = load_file(args.src / FILE, 'authors_psa')

    for variant, cls in CLASSES.items():
        kwargs = dict(inplanes=64, planes=64)
        torch.manual_seed(0)
        module = getattr(authors, cls)(**kwargs)
        gen = torch.Generator().manual_seed(1)
        with torch.no_grad():
            for m in module.modules():
                if isinstance(m, torch.nn.LayerNorm):
                    m.weight.copy_(torch.rand(m.weight.shape, generator=gen) + 0.5)
                    m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.3)
        inputs = [torch.randn(2, 64, 23, 31, generator=gen)]
        provenance = dict(repo=REPO, commit=commit, file=FILE, cls=cls,
                          note=f'variant={variant!r}; loaded unchanged from the checkout; '
                          'their init under torch.manual_seed(0), LayerNorm randomised')
        write_record(args.out_dir / f'psa-{variant}.pt', provenance, kwargs, module, inputs)


if __name__ == '__main__':
    main()
