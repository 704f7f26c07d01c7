"""Golden record of the SimAM authors' SimAM-ResNet-50 (lambda = 0.1, as released) for
tools/model_converters/simam2attnplug.py.

    python benchmarks/golden/make_simam_backbone.py --src PATH/TO/ZjjConan/SimAM \
        --out tests/golden/authors/backbones/simam.pt
"""
import argparse
import functools
from pathlib import Path

from _backbone_record import commit_of, import_file, record, save

E_LAMBDA = 0.1  # README: --attention_type simam --attention_param 0.1


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--src', required=True, help='checkout of github.com/ZjjConan/SimAM')
    parser.add_argument('--commit', help='its commit, if --src is not a git checkout')
    parser.add_argument('--out', default='tests/golden/authors/backbones/simam.pt')
    args = parser.parse_args()
    src = Path(args.src)
    simam = import_file(src / 'networks/attentions/simam_module.py', 'simam_module')
    resnet = import_file(src / 'networks/imagenet/resnet.py', 'simam_resnet')
    model = resnet.resnet50(attention_module=functools.partial(simam.simam_module,
                                                               e_lambda=E_LAMBDA))
    stages = [model.layer1, model.layer2, model.layer3, model.layer4]
    prov = dict(repo='ZjjConan/SimAM', commit=args.commit or commit_of(src),
                file='networks/imagenet/resnet.py', cls='ResNet (resnet50, simam_module)')
    save(record(model, stages, prov, dict(attention_module='simam_module', e_lambda=E_LAMBDA),
                note='stage outputs layer1..layer4 (eval); ImageNet size, seeded weights'),
         args.out)


if __name__ == '__main__':
    main()
