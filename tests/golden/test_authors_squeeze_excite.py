"""SqueezeExcitation against the authors' SENet, whose only release is Caffe: the SE block of
``models/SE-ResNet-50.prototxt`` (unit conv2_1) read as a spec, the golden record
tests/golden/authors/se.pt (made by benchmarks/golden/make_se.py)."""
from pathlib import Path

from attnplug.layers import SqueezeExcitation
from attnplug.testing import assert_matches_golden, load_golden, map_golden_state_dict

RECORD = Path(__file__).with_name('authors') / 'se.pt'
KEYS = {'params.conv2_1_1x1_down.': 'fc1.', 'params.conv2_1_1x1_up.': 'fc2.'}


def test_defaults_equal_the_caffe_prototxt():
    record = load_golden(RECORD)
    module = SqueezeExcitation(256)
    assert_matches_golden(module, record, map_golden_state_dict(module, record['state_dict'], KEYS))
