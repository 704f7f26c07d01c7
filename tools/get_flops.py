"""FLOPs and parameters of any attnplug (mmseg or mmdet) config, with attention counted.

    python tools/get_flops.py CONFIG [CONFIG ...] [--shape H W] [--cfg-options k=v ...]
        [--table] [--json OUT]

A CLI over :func:`attnplug.analysis.flops.config_complexity`: the model is built offline
(pretrained weights removed from the config), put in eval mode and traced on one random ``H × W``
image after its data preprocessor (padding included), like mmseg's and mmdet's
``tools/analysis_tools/get_flops.py``. mmseg's ``auxiliary_head`` is left out (not used at
inference). Two counts are printed:

* ``attnplug``: mmengine's ``FlopAnalyzer`` plus :mod:`attnplug.analysis.flops`' handles for
  ``scaled_dot_product_attention`` and softmax, traced without autograd;
* ``mmengine stock``: what the stock tools report, where a fused attention counts 0.

Convention: one multiply-add = one FLOP (mmengine's); softmax 1 FLOP per element.
Default ``--shape``: the config's ``crop_size`` for mmseg (else 512 1024), 800 1333 for mmdet.
``--json OUT`` writes ``{"header": {date, device, versions, command}, "results": [...]}``, the
artefact the FLOPs tables in the docs are rendered from.
"""
import argparse
import json
import os.path as osp
import sys

# benchmarks/ is not installed: it is imported from this checkout.
sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))


def parse_args(argv=None):
    from mmengine.config import DictAction
    p = argparse.ArgumentParser(description='FLOPs of a config, with fused attention counted')
    p.add_argument('configs', nargs='+', metavar='CONFIG')
    p.add_argument('--shape', type=int, nargs='+', help='input H W (or one side for a square)')
    p.add_argument('--cfg-options', nargs='+', action=DictAction, default={})
    p.add_argument('--table', action='store_true', help='print the per-module table')
    p.add_argument('--softmax-flops', type=float, default=1,
                   help='FLOPs per softmax element (0: softmax not counted). Default: 1')
    p.add_argument('--json', help='also write the result to this JSON file')
    return p.parse_args(argv)


def main(argv=None):
    import sys

    from benchmarks import reporting
    from attnplug.analysis.flops import config_complexity
    raw = sys.argv[1:] if argv is None else argv
    args = parse_args(raw)
    started = reporting.now()
    results = []
    for config in args.configs:
        res = config_complexity(config, args.shape, args.cfg_options, args.softmax_flops,
                                args.table)
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
        results.append(res)
    if args.json:
        header = reporting.run_header(reporting.command_line('tools/get_flops.py', raw), 'cpu',
                                      started)
        with open(args.json, 'w') as f:
            json.dump({'header': header,
                       'results': [{k: v for k, v in r.items() if k != 'table'}
                                   for r in results]}, f, indent=2)
            f.write('\n')
    return results[0] if len(results) == 1 else results


if __name__ == '__main__':
    main()
