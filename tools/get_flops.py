"""FLOPs and parameters of any attnplug (mmseg or mmdet) config, with attention counted.

    python tools/get_flops.py CONFIG [--shape H W] [--cfg-options k=v ...] [--table] [--json OUT]

The model is built offline (pretrained weights removed from the config), put in eval mode and
traced on one random ``H × W`` image after its data preprocessor (padding included), like
mmseg's and mmdet's ``tools/analysis_tools/get_flops.py``. mmseg's ``auxiliary_head`` is left
out (not used at inference). Two counts are printed:

* ``attnplug``: mmengine's ``FlopAnalyzer`` plus :mod:`attnplug.analysis.flops`' handles for
  ``scaled_dot_product_attention`` and softmax, traced without autograd;
* ``mmengine stock``: what the stock tools report, where a fused attention counts 0.

Convention: one multiply-add = one FLOP (mmengine's); softmax 1 FLOP per element.
Default ``--shape``: the config's ``crop_size`` for mmseg (else 512 1024), 800 1333 for mmdet.
"""
import argparse
import json
import os.path as osp
import sys
from functools import partial

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import torch  # noqa: E402
from mmengine.config import DictAction  # noqa: E402

import attnplug  # noqa: E402,F401  (safe checkpoint globals)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='FLOPs of a config, with fused attention counted')
    p.add_argument('config')
    p.add_argument('--shape', type=int, nargs='+', help='input H W (or one side for a square)')
    p.add_argument('--cfg-options', nargs='+', action=DictAction, default={})
    p.add_argument('--table', action='store_true', help='print the per-module table')
    p.add_argument('--softmax-flops', type=float, default=1,
                   help='FLOPs per softmax element (0: softmax not counted). Default: 1')
    p.add_argument('--json', help='also write the result to this JSON file')
    return p.parse_args(argv)


def default_shape(cfg, scope):
    crop = cfg.get('crop_size')
    if scope == 'mmseg':
        return tuple(crop) if crop else (512, 1024)
    return (800, 1333)


def complexity(config, shape=None, cfg_options=None, softmax_flops=1.0, table=False):
    """Build ``config`` and count. Returns a JSON-ready dict."""
    from mmengine.analysis import get_model_complexity_info

    from attnplug.analysis.build import build_model, config_scope, dummy_inputs, load_config
    from attnplug.analysis.flops import get_model_complexity_info_with_attention

    cfg = load_config(config, cfg_options)
    scope = config_scope(cfg)
    if shape is None:
        shape = default_shape(cfg, scope)
    elif len(shape) == 1:
        shape = (shape[0], shape[0])
    model = build_model(cfg, drop_auxiliary=True)
    with torch.no_grad():
        inputs, samples = dummy_inputs(model, scope, shape)
    if scope == 'mmdet':
        # mmdet's 'tensor' mode needs the image metas (as its own get_flops does).
        model.forward = partial(model.forward, data_samples=samples, mode='tensor')
    info = get_model_complexity_info_with_attention(model, inputs=(inputs, ),
                                                    show_table=table, show_arch=False,
                                                    softmax_flops=softmax_flops)
    with torch.no_grad():
        stock = get_model_complexity_info(model, inputs=(inputs, ), show_table=False,
                                          show_arch=False)
    return {
        'config': config,
        'scope': scope,
        'input_shape': list(inputs.shape[-2:]),
        'params': info['params'],
        'params_str': info['params_str'],
        'flops': info['flops'],
        'flops_str': info['flops_str'],
        'flops_stock_mmengine': stock['flops'],
        'flops_stock_mmengine_str': stock['flops_str'],
        'flops_by_operator': dict(info['by_operator']),
        'uncounted_ops': dict(info['unsupported_ops']),
        'convention': 'one multiply-add = one FLOP (mmengine); softmax '
                      f'{softmax_flops:g} FLOP/element',
        'table': info['out_table'],
    }


def main(argv=None):
    args = parse_args(argv)
    res = complexity(args.config, args.shape, args.cfg_options, args.softmax_flops, args.table)
    line = '=' * 60
    by_op = ', '.join(f'{k} {v / 1e9:.3f}G' for k, v in
                      sorted(res['flops_by_operator'].items(), key=lambda kv: -kv[1]))
    print(f'{line}\nConfig: {res["config"]}\nInput shape: {tuple(res["input_shape"])} '
          f'(after the data preprocessor)\nParams: {res["params_str"]}\n'
          f'FLOPs (attnplug, attention counted): {res["flops_str"]} ({res["flops"]:,})\n'
          f'FLOPs (mmengine stock handles):      {res["flops_stock_mmengine_str"]} '
          f'({res["flops_stock_mmengine"]:,})\nBy operator: {by_op}\n'
          f'Not counted (element-wise, as mmengine): '
          f'{", ".join(sorted(res["uncounted_ops"])) or "-"}\n'
          f'Convention: {res["convention"]}\n{line}')
    if args.table:
        print(res['table'])
    if args.json:
        res = {k: v for k, v in res.items() if k != 'table'}
        with open(args.json, 'w') as f:
            json.dump(res, f, indent=2)
    return res


if __name__ == '__main__':
    main()
