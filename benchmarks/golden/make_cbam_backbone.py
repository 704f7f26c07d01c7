"""Golden record of the CBAM authors' CBAM-ResNet-50 (``ResidualNet('ImageNet', 50, 1000,
'CBAM')``) for tools/model_converters/cbam2attnplug.py.

    python benchmarks/golden/make_cbam_backbone.py --src PATH/TO/Jongchan/attention-module \
        --out tests/golden/authors/backbones/cbam.pt
"""
import argparse
from pathlib import Path

from _backbone_record import commit_of, import_package_module, record, save

ARGS = ('ImageNet', 50, 1000, 'CBAM')


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--src', required=True,
                        help='checkout of github.com/Jongchan/attention-module')
    parser.add_argument('--commit', help='its commit, if --src is not a git checkout')
    parser.add_argument('--out', default='tests/golden/authors/backbones/cbam.pt')
    args = parser.parse_args()
    src = Path(args.src)
    model_resnet = import_package_module(src, 'MODELS.model_resnet')
    model = model_resnet.ResidualNet(*ARGS)
    stages = [model.layer1, model.layer2, model.layer3, model.layer4]
    prov = dict(repo='Jongchan/attention-module', commit=args.commit or commit_of(src),
                file='MODELS/model_resnet.py', cls='ResNet (ResidualNet, att_type=CBAM)')
    save(record(model, stages, prov, dict(zip(('network_type', 'depth', 'num_classes', 'att_type'),
                                              ARGS)),
                note='stage outputs layer1..layer4 (eval); ImageNet size, seeded weights'),
         args.out)


if __name__ == '__main__':
    main()
