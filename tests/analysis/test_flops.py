"""FLOP counting with fused attention (attnplug.analysis.flops) and tools/get_flops.py."""
from pathlib import Path

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.analysis import FlopAnalyzer, get_model_complexity_info
from mmengine.analysis import complexity_analysis as mmengine_ca

from attnplug.analysis.flops import (attention_flop_handles, attention_handles_as_default,
                                     get_model_complexity_info_with_attention,
                                     sdpa_flop_count)
from attnplug.layers import MultiHeadSelfAttention2d, NonLocal2d
from benchmarks.paths import repo_script

ROOT = Path(__file__).resolve().parents[2]


class FusedAttention(nn.Module):

    def forward(self, q, k, v):
        return F.scaled_dot_product_attention(q, k, v)


class MatmulAttention(nn.Module):
    """The same computation as FusedAttention, written as bmm + softmax + bmm."""

    def forward(self, q, k, v):
        s = torch.matmul(q, k.transpose(-2, -1)) * q.shape[-1]**-0.5
        return torch.matmul(s.softmax(dim=-1), v)


SHAPES = [
    ((2, 3, 50, 8), (2, 3, 40, 8), (2, 3, 40, 16)),  # Nq != Nk, dk != dv
    ((1, 77, 32), (1, 77, 32), (1, 77, 32)),  # 3D, no head dim
    ((2, 4, 9, 5), (2, 1, 11, 5), (2, 1, 11, 7)),  # key/value broadcast over heads
]


def _inputs(shapes):
    torch.manual_seed(0)
    return tuple(torch.randn(s) for s in shapes)


@pytest.mark.parametrize('shapes', SHAPES)
@pytest.mark.parametrize('softmax_flops', [1, 0])
def test_fused_equals_matmul_form(shapes, softmax_flops):
    inputs = _inputs(shapes)
    fused, plain = FusedAttention(), MatmulAttention()
    torch.testing.assert_close(fused(*inputs), plain(*inputs), rtol=1e-4, atol=1e-5)
    handles = attention_flop_handles(softmax_flops)
    n_fused = FlopAnalyzer(fused, inputs).set_op_handle(**handles).total()
    n_plain = FlopAnalyzer(plain, inputs).set_op_handle(**handles).total()
    assert n_fused == n_plain > 0
    q, k, v = shapes
    lead = torch.broadcast_shapes(q[:-2], k[:-2], v[:-2])
    scores = int(torch.tensor(lead).prod()) * q[-2] * k[-2]
    assert n_fused == scores * (q[-1] + v[-1]) + softmax_flops * scores


def test_stock_mmengine_counts_fused_attention_as_zero():
    """The bug the handles fix: without them SDPA costs 0 while the matmul form is counted."""
    inputs = _inputs(SHAPES[0])
    assert FlopAnalyzer(FusedAttention(), inputs).total() == 0
    assert FlopAnalyzer(MatmulAttention(), inputs).total() == 2 * 3 * 50 * 40 * (8 + 16)


def test_by_operator_names():
    inputs = _inputs(SHAPES[0])
    ops = FlopAnalyzer(FusedAttention(), inputs).set_op_handle(
        **attention_flop_handles()).by_operator()
    assert ops == {'scaled_dot_product_attention': 2 * 3 * 50 * 40 * 24,
                   'softmax': 2 * 3 * 50 * 40}


def test_sdpa_flop_count_rejects_mismatch():
    with pytest.raises(ValueError, match='do not match'):
        sdpa_flop_count((1, 4, 8), (1, 5, 9), (1, 5, 3))
    # grouped-query attention: the query's heads do the work
    assert sdpa_flop_count((1, 8, 4, 2), (1, 2, 6, 2), (1, 2, 6, 2), 0) == (8 * 4 * 6 * 4, 0)


def test_handles_as_default_is_scoped():
    inputs = _inputs(SHAPES[0])
    before = dict(mmengine_ca._DEFAULT_SUPPORTED_FLOP_OPS)
    with attention_handles_as_default():
        info = get_model_complexity_info(FusedAttention(), inputs=inputs, show_table=False,
                                         show_arch=False)
    assert info['flops'] == 2 * 3 * 50 * 40 * 25
    assert mmengine_ca._DEFAULT_SUPPORTED_FLOP_OPS == before
    assert FlopAnalyzer(FusedAttention(), inputs).total() == 0


def test_non_local_count_matches_formula():
    """Whichever backend the layer dispatches to (fused SDPA or query chunks), the count is
    the same closed form: 1x1 convs + B·N·N·(dk + dv) + the softmax."""
    c, h, w = 32, 9, 13
    n, ic = h * w, c // 2
    m = NonLocal2d(c).eval()
    info = get_model_complexity_info_with_attention(m, inputs=(torch.randn(1, c, h, w), ))
    convs = n * (3 * c * ic + ic * c)
    assert info['flops'] == convs + n * n * (ic + ic) + n * n
    assert not any('scaled_dot_product' in op for op in info['unsupported_ops'])


def test_mhsa_fused_path_counted():
    c, h, w, heads = 32, 7, 11, 4
    n = h * w
    m = MultiHeadSelfAttention2d(c, num_heads=heads, pos_encoding=None).eval()
    x = torch.randn(1, c, h, w)
    info = get_model_complexity_info_with_attention(m, inputs=(x, ))
    assert info['by_operator'].get('scaled_dot_product_attention', 0) + \
        info['by_operator'].get('matmul', 0) == heads * n * n * 2 * (c // heads)
    with torch.no_grad():
        stock = FlopAnalyzer(m, (x, )).total()
    assert info['flops'] > stock  # stock mmengine loses the fused attention


def _load_tool(name):
    return repo_script(f'tools/{name}.py')


def test_get_flops_tool_on_nonlocal_config(tmp_path):
    tool = _load_tool('get_flops')
    cfg = ROOT / 'configs/nonlocal_net/nonlocal_r18-w32-d8_1xb4-300iter_cityscapes-bundled-128x256.py'
    res = tool.main([str(cfg), '--shape', '64', '128', '--json', str(tmp_path / 'f.json')])
    assert res['scope'] == 'mmseg' and res['input_shape'] == [64, 128]
    # The NL head's attention (inter channels = channels // reduction) on the 8×16
    # output-stride-8 map.
    from mmengine.config import Config
    head = Config.fromfile(str(cfg)).model.decode_head
    n, ic = 8 * 16, head.channels // head.reduction
    assert res['flops'] - res['flops_stock_mmengine'] in (n * n * 2 * ic + n * n,
                                                          n * n)  # fused or chunked path
    assert (tmp_path / 'f.json').is_file()


def test_detector_is_traced_without_patching_its_forward():
    """mmdet's tensor mode needs the image metas: a wrapper module passes them, and the detector
    itself is left as it was (no ``forward`` replaced by a partial)."""
    from attnplug.analysis.build import build_model, dummy_inputs, load_config
    from attnplug.analysis.flops import TensorModeForward, config_complexity
    cfg_path = ROOT / 'configs/faster_rcnn/faster-rcnn_r18_fpn_300iter_coco-bundled.py'
    # the RoI head's cost depends on how many proposals survive NMS, so both builds get the same
    # random weights
    torch.manual_seed(0)
    res = config_complexity(str(cfg_path), (64, 96))
    assert res['scope'] == 'mmdet' and res['input_shape'] == [64, 96]
    assert res['flops'] > 0 and res['params'] > 0
    torch.manual_seed(0)
    model = build_model(load_config(str(cfg_path)), drop_auxiliary=True)
    with torch.no_grad():
        inputs, samples = dummy_inputs(model, 'mmdet', (64, 96))
        wrapped = TensorModeForward(model, samples)
        direct = model(inputs, samples, mode='tensor')
        via = wrapped(inputs)
    assert 'forward' not in vars(model)

    def flat(x):
        if isinstance(x, torch.Tensor):
            return [x]
        return [t for item in x for t in flat(item)]

    a, b = flat(direct), flat(via)
    assert len(a) == len(b) > 0 and all(torch.equal(x, y) for x, y in zip(a, b))
    info = get_model_complexity_info_with_attention(wrapped, inputs=(inputs, ))
    assert info['flops'] == res['flops']


@pytest.mark.parametrize('config, expected', [
    # mmseg: the crop
    ('configs/fcn/fcn_r18-w32-d8_1xb4-300iter_cityscapes-bundled-128x256.py', (128, 256)),
    # mmdet: the test pipeline's Resize scale, written (W, H)
    ('configs/faster_rcnn/faster-rcnn_r18_fpn_300iter_coco-bundled.py', (256, 427)),
    # RTMDet pads to a fixed square, which its neck needs (a side of 427 does not divide by 32)
    ('configs/rtmdet/rtmdet_cspnext-w16_300iter_coco-bundled.py', (256, 256)),
])
def test_default_input_shape_is_what_the_test_pipeline_feeds(config, expected):
    from attnplug.analysis.build import config_scope, load_config
    from attnplug.analysis.flops import default_input_shape
    cfg = load_config(str(ROOT / config))
    assert default_input_shape(cfg, config_scope(cfg)) == expected


def test_default_input_shape_falls_back_to_mmdet_stock_size():
    from mmengine.config import Config

    from attnplug.analysis.flops import default_input_shape
    cfg = Config(dict(test_pipeline=[dict(type='LoadImageFromFile')]))
    assert default_input_shape(cfg, 'mmdet') == (800, 1333)
