"""attnplug.CCHead against mmseg's CCHead: same keys, outputs, predictions and losses; pure
PyTorch (no mmcv.ops) and exportable to ONNX."""
import ast
import inspect
import io
import sys

import pytest
import torch
import torch.nn as nn
from mmseg.models.decode_heads import CCHead as MMSegCCHead

import attnplug.models.decode_heads.cc_head as cc_head_module
from attnplug.layers import CrissCrossAttention
from attnplug.models.decode_heads import CCHead
from attnplug.testing import assert_head_loss_matches, assert_head_matches, mmseg_head_pair

IN, CH, CLS = 8, 16, 5
KWARGS = dict(in_channels=IN, channels=CH, num_classes=CLS, norm_cfg=dict(type='BN'))


def _pair(**kwargs):
    ref, ours = mmseg_head_pair(CCHead, MMSegCCHead, ours_only=(), **KWARGS, **kwargs)
    assert list(ours.state_dict()) == list(ref.state_dict())  # in mmseg's order, too
    return ref, ours


@pytest.mark.parametrize('size', [(23, 23), (23, 31)])
@pytest.mark.parametrize('recurrence,concat_input', [(2, True), (1, False), (3, True)])
def test_forward_and_predict_match_mmseg(size, recurrence, concat_input):
    ref, ours = _pair(recurrence=recurrence, concat_input=concat_input)
    assert ours.recurrence == ours.cca.recurrence == recurrence
    assert_head_matches(ref, ours, [torch.randn(2, IN, *size)], CLS)


def test_loss_matches_mmseg_in_training_mode_and_gradients_flow():
    ref, ours = _pair()
    assert_head_loss_matches(ref, ours, [torch.randn(2, IN, 23, 31)], CLS)
    assert ours.cca.gamma.scale.grad.abs() > 0


def _imports(module):
    names = []
    for node in ast.walk(ast.parse(inspect.getsource(module))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names.append(node.module or '')
    return names


def test_no_mmcv_ops_on_the_head_path(python_runner):
    """mmseg itself imports mmcv.ops, so the check is on attnplug's side: the head's attention
    is attnplug's layer, no module on its path imports mmcv, and the layer runs in a fresh
    interpreter without loading any mmcv module."""
    head = CCHead(**KWARGS)
    assert type(head.cca) is CrissCrossAttention
    assert type(head.cca).__module__ == 'attnplug.layers.criss_cross'
    for module in (cc_head_module, sys.modules['attnplug.layers.criss_cross'],
                   sys.modules['attnplug.functional.criss_cross']):
        assert not [n for n in _imports(module) if n.startswith('mmcv')], module.__name__
    proc = python_runner(['-c', (
        'import sys, torch; from attnplug.layers import CrissCrossAttention as C; '
        'C(8)(torch.rand(1, 8, 5, 7)); '
        'print(sorted(m for m in sys.modules if m.startswith("mmcv")))')])
    assert proc.stdout.strip() == '[]'


class _OnFeature(nn.Module):
    """The head on one feature tensor (its ``inputs`` is a list of levels)."""

    def __init__(self, head):
        super().__init__()
        self.head = head

    def forward(self, x):
        return self.head([x])


def test_onnx_export_matches_pytorch():
    ort = pytest.importorskip('onnxruntime')
    pytest.importorskip('onnxscript')
    _, ours = _pair()
    model = _OnFeature(ours).eval()
    x = torch.randn(1, IN, 23, 31)
    with torch.no_grad():
        expected = model(x)
    buf = io.BytesIO()
    torch.onnx.export(model, (x, ), buf, dynamo=True, opset_version=17, input_names=['feat'],
                      output_names=['logits'], verbose=False)
    session = ort.InferenceSession(buf.getvalue(), providers=['CPUExecutionProvider'])
    got = torch.from_numpy(session.run(None, {'feat': x.numpy()})[0])
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=0)


def test_num_convs_other_than_two_is_refused():
    assert CCHead(num_convs=2, **KWARGS).num_convs == 2  # an FCNHead config switches by type
    with pytest.raises(ValueError, match='CCHead: num_convs must be 2'):
        CCHead(num_convs=1, **KWARGS)
