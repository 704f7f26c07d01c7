"""Golden records of the families whose authors released no PyTorch module to run here, made
from the OpenMMLab module attnplug replaces (tests/golden/README.md):

* ``non_local.pt``: mmcv ``cnn/bricks/non_local.py:NonLocal2d`` at its defaults (embedded
  Gaussian, reduction 2, scaled). The authors' code (facebookresearch/video-nonlocal-net) is
  Caffe2.
* ``criss_cross.pt``: mmcv ``ops/cc_attention.py:CrissCrossAttention`` (one pass). The authors'
  code (speedinghzl/CCNet) is a CUDA extension.
* ``multi_head_attention.pt``: mmcv ``cnn/bricks/transformer.py:MultiheadAttention`` (8 heads,
  identity residual) over the ``H*W`` positions of the map. BoTNet's authors released
  TensorFlow code; the reference here is the multi-head attention of Vaswani et al. as
  OpenMMLab (and ``torch.nn.MultiheadAttention``, which it wraps) computes it, without position
  encodings (attnplug's are checked against their formula in tests/layers).

    python benchmarks/golden/make_openmmlab.py --out tests/golden/authors

Runs the installed mmcv (no ``--src``); the version is the record's ``commit``.
"""
from pathlib import Path

import mmcv
import torch
import torch.nn as nn
from _golden import parse_args, run_modes, seed_weights, seeded_input, write_record

REPO = 'open-mmlab/mmcv'
VERSION = f'v{mmcv.__version__}'


class TokensMHA(nn.Module):
    """mmcv's MultiheadAttention on a (N, C, H, W) map: the H*W positions as the sequence, the
    map itself as the identity; only a reshape around their module."""

    def __init__(self, **kwargs):
        super().__init__()
        from mmcv.cnn.bricks.transformer import MultiheadAttention
        self.attn = MultiheadAttention(**kwargs)

    def forward(self, x):
        n, c, h, w = x.shape
        tokens = x.flatten(2).permute(2, 0, 1)  # (HW, N, C), batch_first=False
        return self.attn(tokens).permute(1, 2, 0).reshape(n, c, h, w)


def main():
    args = parse_args(__doc__, REPO, VERSION, '', src_required=False)
    from mmcv.cnn import NonLocal2d
    from mmcv.ops import CrissCrossAttention
    cases = [
        ('non_local.pt', NonLocal2d, dict(in_channels=32), 'mmcv/cnn/bricks/non_local.py',
         'NonLocal2d', 'NonLocal2d()', 'the authors released Caffe2 code '
         '(facebookresearch/video-nonlocal-net)'),
        ('criss_cross.pt', CrissCrossAttention, dict(in_channels=32),
         'mmcv/ops/cc_attention.py', 'CrissCrossAttention', 'CrissCrossAttention()',
         "one pass; the paper's RCCA repeats it (recurrence=2); the authors' code "
         '(speedinghzl/CCNet) is a CUDA extension'),
        ('multi_head_attention.pt', TokensMHA, dict(embed_dims=32, num_heads=8),
         'mmcv/cnn/bricks/transformer.py', 'MultiheadAttention',
         'MultiHeadSelfAttention2d(pos_encoding=None)',
         "reference without position encodings; BoTNet's authors released TensorFlow code"),
    ]
    for name, cls, kwargs, file, cls_name, arg, departures in cases:
        module = seed_weights(cls(**kwargs))
        inputs = [seeded_input(2, 32, 11, 13)]
        write_record(
            str(Path(args.out) / name),
            provenance=dict(repo=REPO, commit=VERSION, file=file, cls=cls_name,
                            note=f'the installed mmcv {mmcv.__version__} (PyPI sdist, built '
                                 'with ops); seeded weights N(0, 0.3²); input randn seed 1',
                            attnplug=arg, departures=departures),
            authors_kwargs=kwargs, state_dict=module.state_dict(), inputs=inputs,
            outputs=run_modes(module, inputs))


if __name__ == '__main__':
    main()
