"""torch.compile(fullgraph=True) of the memory-bounded attention layers: dynamo captures the
chunked path (query blocks included) in one graph, and it gives eager's outputs.

The backend is ``aot_eager`` (dynamo + AOTAutograd, no code generation): inductor's C++
compile took 150 s for PositionAttention alone on the loaded 2-core CI machine. Inductor's
outputs and speed against eager are in tools/benchmark_deploy.py (docs/benchmarks/deploy_cpu.md).
"""
import pytest
import torch

from attnplug.layers import NonLocal2d, PositionAttention
from attnplug.testing import randomise


@pytest.mark.parametrize('make', [
    lambda: PositionAttention(16, memory_budget=4 * 64 * 16),  # 4 blocks of 16 rows at N = 64
    lambda: NonLocal2d(16, memory_budget=4 * 64 * 16),
], ids=['PositionAttention', 'NonLocal2d'])
def test_attention_layers_compile_fullgraph_and_match_eager(make):
    torch._dynamo.reset()
    m = randomise(make(), seed=1).eval()
    x = torch.randn(1, 16, 8, 8)
    with torch.no_grad():
        ref = m(x)
        out = torch.compile(m, fullgraph=True, backend='aot_eager')(x)
    assert torch.allclose(out, ref, atol=1e-5, rtol=0), float((out - ref).abs().max())
    assert (ref - x).abs().max() > 1e-2  # the attention branch contributes
