"""Write tests/golden/authors/cot.pt: the authors' CotLayer run on seeded weights and inputs.

The authors' code is not part of attnplug: check out https://github.com/JDAI-CV/CoTNet at the
commit below and run

    python benchmarks/golden/make_cot.py --src PATH_TO_CHECKOUT --out tests/golden/authors/cot.pt

``models/cotnet.py`` cannot be imported on its own (it pulls in the repository's whole timm
fork and cupy), so the ``CotLayer`` class is taken from it by its source (``ast``) and run
unchanged, with the names it uses bound as follows:

* ``LocalConvolution``: their cupy CUDA kernel (``cupy_layers/aggregation_zeropad.py``) runs on
  a GPU only. It is replaced by the pure-PyTorch formula that the same file tests the kernel
  against (``test_aggregation_zeropad``: ``torch.nn.Unfold``, a product with the weights and
  a sum over the taps), written out in ``UnfoldLocalConvolution`` below;
* ``get_act_layer``: their ``models/layers/create_act.py`` maps ``'swish'`` to ``nn.SiLU`` on
  every torch with ``F.silu`` (>= 1.7), so that is what it returns here.

PyTorch's default init under ``torch.manual_seed(0)``; every BN and GN is randomised (weights
and running statistics) so that it shows in both modes.
"""
import argparse
import ast
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from _run_authors import checkout_commit, write_record

REPO = 'JDAI-CV/CoTNet'
COMMIT = '895e02467d5691c5227f501732dc84390706a25f'
FILE = 'models/cotnet.py'
CLS = 'CotLayer'


class UnfoldLocalConvolution(nn.Module):
    """The reference formula of their ``test_aggregation_zeropad`` (stride 1, dilation 1)."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1):
        super().__init__()
        assert stride == 1 and dilation == 1
        self.kernel_size, self.padding = kernel_size, padding

    def forward(self, x, w):
        n, c_x, height, width = x.shape
        _, heads, c_w, taps = w.shape[:4]
        x2 = F.unfold(x, self.kernel_size, padding=self.padding).view(
            n, c_x // c_w, c_w, taps, height, width)
        return (w.unsqueeze(2) * x2.unsqueeze(1)).sum(-3).view(n, heads * c_x, height, width)


def load_class(path: Path, name: str, namespace: dict):
    tree = ast.parse(path.read_text(), filename=str(path))
    (node, ) = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == name]
    code = compile(ast.Module(body=[node], type_ignores=[]), filename=str(path), mode='exec')
    exec(code, namespace)  # the class body as written in their file
    return namespace[name]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--src', type=Path, required=True, help='checkout of ' + REPO)
    parser.add_argument('--out', type=Path, default=Path('tests/golden/authors/cot.pt'))
    args = parser.parse_args(argv)
    commit = checkout_commit(args.src, COMMIT)
    namespace = dict(torch=torch, nn=nn, F=F, math=math, np=np,
                     LocalConvolution=UnfoldLocalConvolution,
                     get_act_layer=lambda name: {'swish': nn.SiLU}[name])
    cot_layer = load_class(args.src / FILE, CLS, namespace)

    kwargs = dict(dim=64, kernel_size=3)
    torch.manual_seed(0)
    module = cot_layer(**kwargs)
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
                m.weight.copy_(torch.rand(m.weight.shape, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.3)
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=gen) * 0.3)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=gen) + 0.5)
    inputs = [torch.randn(2, 64, 23, 31, generator=gen)]
    provenance = dict(repo=REPO, commit=commit, file=FILE, cls=CLS,
                      note='class body from their file (ast); LocalConvolution = the Unfold '
                      'formula of their cupy_layers/aggregation_zeropad.py test (their CUDA '
                      "kernel not run: no GPU); get_act_layer('swish') = nn.SiLU as their "
                      'create_act.py; default init under torch.manual_seed(0), norms randomised')
    write_record(args.out, provenance, kwargs, module, inputs)


if __name__ == '__main__':
    main()
