"""ECA against its authors' code, BangguWu/ECANet ``models/eca_module.py:eca_layer``, with each
kernel their released models use: the golden records tests/golden/authors/eca-k{1,3,5,7}.pt
(made by benchmarks/golden/make_eca.py)."""
from pathlib import Path

import pytest

from attnplug.layers import ECA
from attnplug.layers.eca import RELEASED_KERNELS, eca_kernel_size
from attnplug.testing import assert_matches_golden, load_golden, map_golden_state_dict

AUTHORS = Path(__file__).with_name('authors')


@pytest.mark.parametrize('k', [1, 3, 5, 7])
def test_kernel_size_equals_the_authors_code(k):
    record = load_golden(AUTHORS / f'eca-k{k}.pt')
    assert record['authors_kwargs']['k_size'] == k
    module = ECA(64, kernel_size=k)
    assert_matches_golden(module, record, map_golden_state_dict(module, record['state_dict']))


def test_released_kernels_are_not_eq12():
    """ResNet-50's released kernels (3, 5, 5, 7) against Eq. 12 on its stage widths."""
    eq12 = tuple(eca_kernel_size(c) for c in (256, 512, 1024, 2048))
    assert eq12 == (5, 5, 5, 7)
    assert RELEASED_KERNELS['eca_resnet50'] == (3, 5, 5, 7) != eq12
