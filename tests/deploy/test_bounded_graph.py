"""The exported graph keeps attention memory-bounded: no value of the ONNX graph (Scan bodies
included, read through ONNX shape inference) has an N×N shape, the chunk loop is one ``Scan``
whose size does not depend on the resolution, and a dynamic-shape export stays exact.

The bundled DANet and non-local segmentors are checked the same way in
``test_export_models.py`` (one export per config serves both checks)."""
import pytest
import torch
import torch.nn as nn

pytest.importorskip('onnxruntime')
pytest.importorskip('onnxscript')
pytest.importorskip('onnx')

from attnplug.deploy import (count_nodes, export_onnx, ort_run, ort_session,  # noqa: E402
                             quadratic_values)
from attnplug.functional import attention  # noqa: E402


class _Attend(nn.Module):
    """(1, C, H, W) -> (1, dv, H, W): q, k from the first 2·dk channels, v from the rest."""

    def __init__(self, dk, budget):
        super().__init__()
        self.dk, self.budget = dk, budget

    def forward(self, x):
        b, c, h, w = x.shape
        t = x.flatten(2).transpose(1, 2)
        q, k, v = t[..., :self.dk], t[..., self.dk:2 * self.dk], t[..., 2 * self.dk:]
        out = attention(q, k, v * 1.0, scale=1.0, memory_budget=self.budget)
        return out.transpose(1, 2).reshape(b, -1, h, w)


def _export(module, x, path, loop='scan', dynamic=False):
    dims = {'x': {2: ('h', 2, 512), 3: ('w', 2, 512)}} if dynamic else None
    export_onnx(module, (x, ), str(path), ['x'], ['y'], dims, loop=loop)
    return str(path)


def _diff(path, module, x):
    with torch.no_grad():
        ref = module(x)
    return float((torch.from_numpy(ort_run(ort_session(path), x)[0]) - ref).abs().max())


def test_dynamic_shape_scan_is_exact_without_nxn(tmp_path):
    """One export with a dynamic (H, W): a single Scan, no N×N value (N symbolic), equal to
    PyTorch at other sizes, the last block short or a single block."""
    m = _Attend(4, budget=4 * 64 * 16)  # rows = 4096 B / (4 B · N): 16 rows at N = 64
    path = _export(m, torch.randn(1, 20, 8, 8), tmp_path / 'dyn.onnx', dynamic=True)
    counts = count_nodes(path)
    assert counts.get('Scan') == 1 and counts.get('MatMul') == 2, counts
    # The exporter names the flattened size of an (h, w) input 'w*h'.
    assert quadratic_values(path, 'w*h') == []
    for h, w in ((8, 8), (11, 17), (23, 31), (2, 3)):
        assert _diff(path, m, torch.randn(1, 20, h, w)) <= 1e-5, (h, w)


def test_nxn_check_sees_an_unchunked_export(tmp_path):
    """With the default (256 MiB) budget the scores are one N×N block: the check finds it."""
    h, w = 13, 20
    m = _Attend(8, budget=256 * 2**20)  # equal head sizes: SDPA, exported as MatMul-Softmax
    x = torch.randn(1, 24, h, w)
    path = _export(m, x, tmp_path / 'whole.onnx')
    assert _diff(path, m, x) <= 1e-5
    assert quadratic_values(path, h * w), 'the N×N scores of an unchunked export were not seen'


def test_unrolled_loop_copies_the_block_per_chunk(tmp_path):
    """``export_loop('unroll')``: no Scan, one copy of the block per chunk, so the graph grows
    with the resolution (the Scan graph has two MatMuls at any size)."""
    m = _Attend(4, budget=4 * 96 * 16)  # N = 96: 16-row blocks, 6 of them
    x = torch.randn(1, 20, 8, 12)
    path = _export(m, x, tmp_path / 'unroll.onnx', loop='unroll')
    assert _diff(path, m, x) <= 1e-5
    assert quadratic_values(path, 96) == []
    counts = count_nodes(path)
    assert 'Scan' not in counts and counts['MatMul'] == 2 * 6, counts
