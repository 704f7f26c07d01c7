"""Golden record of SE-ResNet-50 from Cadene's pretrainedmodels (``senet.py``, ``se_resnet50``:
the port of the SENet authors' Caffe model, hujie-frank/SENet) for
tools/model_converters/se2attnplug.py.

    python benchmarks/golden/make_se_backbone.py --src PATH/TO/Cadene/pretrained-models.pytorch \
        --out tests/golden/authors/backbones/se.pt

The Caffe stem max-pools with ``ceil_mode=True`` and no padding; mmcv's ResNet pools with
``padding=1``. The record holds the outputs of the authors' model as released
(``features_as_released``) and, in ``outputs``/``features``, those of the same model with its
``layer0.pool`` swapped for ``nn.MaxPool2d(3, 2, padding=1)``: the converted backbone must equal
the latter exactly, and differs from the former only through that pooling.
"""
import argparse
from pathlib import Path

import torch.nn as nn

from _backbone_record import commit_of, import_file, record, save

KWARGS = dict(num_classes=1000, pretrained=None)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--src', required=True,
                        help='checkout of github.com/Cadene/pretrained-models.pytorch')
    parser.add_argument('--commit', help='its commit, if --src is not a git checkout')
    parser.add_argument('--out', default='tests/golden/authors/backbones/se.pt')
    args = parser.parse_args()
    src = Path(args.src)
    # The file alone: the package's __init__ imports torchvision.
    senet = import_file(src / 'pretrainedmodels/models/senet.py', 'cadene_senet')
    model = senet.se_resnet50(**KWARGS)
    stages = [model.layer1, model.layer2, model.layer3, model.layer4]
    prov = dict(repo='Cadene/pretrained-models.pytorch', commit=args.commit or commit_of(src),
                file='pretrainedmodels/models/senet.py', cls='SENet (se_resnet50)')
    released = record(model, stages, prov, KWARGS)
    model.layer0.pool = nn.MaxPool2d(3, stride=2, padding=1)
    rec = record(model, stages, prov, KWARGS, note=(
        'stage outputs layer1..layer4 (eval); ImageNet size, seeded weights; outputs/features '
        'with layer0.pool = MaxPool2d(3, 2, padding=1) (mmcv\'s stem pooling), '
        'features_as_released with the released ceil-mode pooling'))
    rec['features_as_released'] = released['features']
    save(rec, args.out)


if __name__ == '__main__':
    main()
