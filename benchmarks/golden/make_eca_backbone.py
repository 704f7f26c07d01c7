"""Golden record of the ECA-Net authors' ECA-ResNet-50 (k3557, the released kernels) for
tools/model_converters/eca2attnplug.py.

    python benchmarks/golden/make_eca_backbone.py --src PATH/TO/BangguWu/ECANet \
        --out tests/golden/authors/backbones/eca.pt
"""
import argparse
from pathlib import Path

from _backbone_record import commit_of, import_package_module, record, save

KWARGS = dict(k_size=[3, 5, 5, 7], num_classes=1000)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--src', required=True, help='checkout of github.com/BangguWu/ECANet')
    parser.add_argument('--commit', help='its commit, if --src is not a git checkout')
    parser.add_argument('--out', default='tests/golden/authors/backbones/eca.pt')
    args = parser.parse_args()
    src = Path(args.src)
    eca_resnet = import_package_module(src, 'models.eca_resnet')
    model = eca_resnet.eca_resnet50(**KWARGS)
    stages = [model.layer1, model.layer2, model.layer3, model.layer4]
    prov = dict(repo='BangguWu/ECANet', commit=args.commit or commit_of(src),
                file='models/eca_resnet.py', cls='ResNet (eca_resnet50)')
    save(record(model, stages, prov, KWARGS,
                note='stage outputs layer1..layer4 (eval); ImageNet size, seeded weights'),
         args.out)


if __name__ == '__main__':
    main()
