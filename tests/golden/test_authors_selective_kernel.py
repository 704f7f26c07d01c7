"""SKConv against the authors' SKNet: the Caffe prototxt read as a spec (implus/SKNet
``models/sknet50.prototxt``, unit conv2_1; record tests/golden/authors/sk.pt, made by
benchmarks/golden/make_sk.py) and the SK unit of their PyTorch SK-ResNet (implus/PytorchInsight
``resnet_sk.py:Bottleneck``; record sk-pytorchinsight.pt, made by make_sk_pytorch.py)."""
from pathlib import Path

from attnplug.layers import SKConv
from attnplug.testing import assert_matches_golden, load_golden, map_golden_state_dict

AUTHORS = Path(__file__).with_name('authors')
CAFFE_KEYS = {'params.conv2_1|3x3g32.': 'branches.0.0.',
              'params.conv2_1|3x3g32|bn.': 'branches.0.1.',
              'params.conv2_1|3x3g32d2.': 'branches.1.0.',
              'params.conv2_1|3x3g32d2|bn.': 'branches.1.1.',
              'params.conv2_1|B_fc1.': 'fc_reduce.', 'params.conv2_1|B_fc1|bn.': 'fc_norm.',
              'params.conv2_1|B_fc2.': 'fc_select.'}
PYTORCH_KEYS = {'conv2.': 'branches.0.0.', 'bn2.': 'branches.0.1.', 'conv2g.': 'branches.1.0.',
                'bn2g.': 'branches.1.1.', 'conv_fc1.': 'fc_reduce.', 'bn_fc1.': 'fc_norm.',
                'conv_fc2.': 'fc_select.'}


def test_groups_32_equals_the_caffe_prototxt():
    record = load_golden(AUTHORS / 'sk.pt')
    module = SKConv(128, 128, groups=32)
    assert module.hidden_channels == 32  # max(128 / 16, L = 32): B_fc1's num_output
    mapped = map_golden_state_dict(module, record['state_dict'], CAFFE_KEYS)
    assert_matches_golden(module, record, mapped)


def test_branch_cfgs_equal_the_authors_pytorch_sk_resnet():
    record = load_golden(AUTHORS / 'sk-pytorchinsight.pt')
    module = SKConv(32, 32, branch_cfgs=[dict(groups=1, dilation=1), dict(groups=32, dilation=1)],
                    min_hidden_channels=1)
    mapped = map_golden_state_dict(module, record['state_dict'], PYTORCH_KEYS)
    assert_matches_golden(module, record, mapped)
