"""Golden record of the BAM authors' BAM-ResNet-50 (``ResidualNet('ImageNet', 50, 1000, 'BAM')``)
for tools/model_converters/bam2attnplug.py.

    python benchmarks/golden/make_bam_backbone.py --src PATH/TO/Jongchan/attention-module \
        --out tests/golden/authors/backbones/bam.pt

The released ``MODELS/bam.py`` cannot be built as it stands: ``ChannelGate.__init__`` stores an
undefined global ``gate_activation`` (a ``NameError``; the attribute is never used). This script
defines that name as None in the module before building. BAM pools an ``H x H`` window, so the
input is square (57 x 57), where that is the global average the released weights were trained
with.
"""
import argparse
from pathlib import Path

from _backbone_record import commit_of, import_package_module, record, save

ARGS = ('ImageNet', 50, 1000, 'BAM')
INPUT_SHAPE = (1, 3, 57, 57)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--src', required=True,
                        help='checkout of github.com/Jongchan/attention-module')
    parser.add_argument('--commit', help='its commit, if --src is not a git checkout')
    parser.add_argument('--out', default='tests/golden/authors/backbones/bam.pt')
    args = parser.parse_args()
    src = Path(args.src)
    bam = import_package_module(src, 'MODELS.bam')
    bam.gate_activation = None  # the undefined, unused name (module docstring)
    model_resnet = import_package_module(src, 'MODELS.model_resnet')
    model = model_resnet.ResidualNet(*ARGS)
    stages = [model.bam1, model.bam2, model.bam3, model.layer4]
    prov = dict(repo='Jongchan/attention-module', commit=args.commit or commit_of(src),
                file='MODELS/model_resnet.py', cls='ResNet (ResidualNet, att_type=BAM)')
    save(record(model, stages, prov, dict(zip(('network_type', 'depth', 'num_classes', 'att_type'),
                                              ARGS)), input_shape=INPUT_SHAPE,
                note='stage outputs bam1, bam2, bam3 (after layer1..3) and layer4 (eval); '
                     'ImageNet size, seeded weights; bam.gate_activation defined as None'),
         args.out)


if __name__ == '__main__':
    main()
