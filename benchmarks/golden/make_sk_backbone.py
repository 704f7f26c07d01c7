"""Golden record of the SKNet authors' PyTorch SK-ResNet-50 (implus/PytorchInsight,
``sk_resnet50``, "SK-ResNet50*" of its README) for tools/model_converters/sk2attnplug.py.

    python benchmarks/golden/make_sk_backbone.py --src PATH/TO/implus/PytorchInsight \
        --out tests/golden/authors/backbones/sk.pt
"""
import argparse
from pathlib import Path

from _backbone_record import commit_of, import_without_package_init, record, save


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--src', required=True, help='checkout of github.com/implus/PytorchInsight')
    parser.add_argument('--commit', help='its commit, if --src is not a git checkout')
    parser.add_argument('--out', default='tests/golden/authors/backbones/sk.pt')
    args = parser.parse_args()
    src = Path(args.src)
    # its package's __init__ imports every model of the directory, one of them from outside it
    resnet_sk = import_without_package_init(src / 'classification/models/imagenet',
                                            'pytorchinsight_imagenet', 'resnet_sk')
    model = resnet_sk.sk_resnet50()
    stages = [model.layer1, model.layer2, model.layer3, model.layer4]
    prov = dict(repo='implus/PytorchInsight', commit=args.commit or commit_of(src),
                file='classification/models/imagenet/resnet_sk.py', cls='ResNet (sk_resnet50)')
    save(record(model, stages, prov, dict(num_classes=1000),
                note='stage outputs layer1..layer4 (eval); ImageNet size, seeded weights'),
         args.out)


if __name__ == '__main__':
    main()
