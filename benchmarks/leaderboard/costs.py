"""What each leaderboard model costs: parameters and FLOPs of the inference model (mmseg's
auxiliary head left out, attention counted, :func:`attnplug.analysis.flops.model_complexity`),
the time of one ``model.test_step`` at batch 1 and its peak inference memory
(:mod:`attnplug.analysis.profiling`). Costs do not depend on the seed: one per group. Each
model is built once, with its checkpoint when there is one, and serves every measurement.
"""
from typing import Any, Dict, List, Optional, Sequence, Tuple

__all__ = ['measure_costs', 'time_note']


def time_note(device: str) -> str:
    """The header's ``time`` line: what :func:`measure_costs` timed."""
    clock = 'synchronised wall time (CUDA)' if device.startswith('cuda') else \
        'CPU time of the process (time.process_time) with one torch thread'
    return (f'median {clock} of model.test_step, batch 1, after 2 warm-up calls; the '
            'configs timed in 5 interleaved rounds')


def measure_costs(models: Sequence[Tuple[str, Optional[str]]], shape, device: str = 'cpu',
                  rounds: int = 5) -> List[Dict[str, Any]]:
    """Params, FLOPs (attention counted), time per ``test_step`` at batch 1 and peak inference
    memory of each ``(config, checkpoint)``, in order.

    Time is CPU time (``time.process_time``) on CPU, with one torch thread: the CPU time of
    several threads also counts their spin-waiting, which grows with the load of a shared
    machine. Synchronised wall time on CUDA. All the models are built first and timed in
    interleaved rounds (:func:`~attnplug.analysis.profiling.measure_interleaved`): on a
    machine whose load drifts (a shared machine, whose cores may be hyper-threads of one), the
    configs of one leaderboard then meet the same load, and their ratios stay comparable.
    """
    import torch

    from attnplug.analysis.build import build_model, config_scope, dummy_batch, load_config
    from attnplug.analysis.flops import default_input_shape, model_complexity
    from attnplug.analysis.profiling import measure_interleaved, measure_peak_memory

    def test_call(model, data):
        def call():
            with torch.no_grad():
                model.test_step(data)
        return call

    static, calls = [], {}
    for i, (config, checkpoint) in enumerate(models):
        cfg = load_config(config)
        scope = config_scope(cfg)
        size = default_input_shape(cfg, scope) if shape is None else \
            (shape[0], shape[0]) if len(shape) == 1 else tuple(shape)
        model = build_model(cfg, checkpoint, device, drop_auxiliary=True)
        flops = model_complexity(model, scope, size)
        calls[i] = test_call(model, dummy_batch(scope, flops['input_shape']))
        static.append({
            'params_m': flops['params'] / 1e6,
            'gflops': flops['flops'] / 1e9,
            'gflops_stock_mmengine': flops['flops_stock_mmengine'] / 1e9,
            'input_shape': 'x'.join(map(str, flops['input_shape'])),
        })
    clock = 'wall' if device.startswith('cuda') else 'cpu'
    threads = torch.get_num_threads()
    if clock == 'cpu':
        torch.set_num_threads(1)
    try:
        lat = measure_interleaved(calls, device, warmup=2, rounds=rounds, max_first_s=60,
                                  clock=clock)
    finally:
        torch.set_num_threads(threads)
    return [dict(static[i], ms_per_img=lat[i]['median_ms'],
                 infer_memory_mib=measure_peak_memory(calls[i], device))
            for i in range(len(static))]
