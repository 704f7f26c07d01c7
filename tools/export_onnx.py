"""Export a segmentor or detector to ONNX and check it with onnxruntime.

    python tools/export_onnx.py CONFIG CHECKPOINT --shape H W [--dynamic-shape] [--out F]
        [--image IMG] [--loop scan|unroll] [--memory-budget BYTES] [--check-graph N]
        [--json REPORT] [--cfg-options k=v ...]

* segmentors: ``image -> logits``, the whole-image logits of ``test.py`` (pre-processing in
  the graph; input (1, 3, H, W) float BGR 0-255, as ``mmcv.imread`` loads an image);
* detectors: the raw head outputs (two-stage: also ``<F stem>.roi_head.onnx``, the box
  head); boxes come from ``attnplug.deploy.detection_postprocess``.

Then it runs the graph with onnxruntime on IMG (resized to H×W) or random pixels, compares with
the model's PyTorch ``test_step`` (the stock ``test.py`` path) and prints the largest
difference, and for detectors the boxes of both. With ``--dynamic-shape`` H and W are dynamic
and the check also runs at (H + 32, W + 64). ``--check-graph N`` reads the exported graph's
value shapes (ONNX shape inference) and fails if any holds two dimensions equal to N (an N×N
attention map; N = H·W / 64 for an output-stride-8 model). Exits 1 if a check fails
(logits > 1e-3 apart, different boxes, an N×N value).

The checkpoint goes through mmengine's ``load_checkpoint`` (``mmseg.apis.init_model`` /
``mmdet.apis.init_detector``) with ``weights_only`` left on; ``import attnplug`` allowlists
exactly what mmengine checkpoints contain. See docs/deploy.md.
"""
import argparse
import json
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmengine.config import Config, DictAction  # noqa: E402

import attnplug  # noqa: E402,F401  (safe checkpoint globals before torch.load)

#: Largest accepted onnxruntime-vs-PyTorch difference on logits / raw outputs.
TOLERANCE = 1e-3


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='Export a model to ONNX and check it')
    p.add_argument('config')
    p.add_argument('checkpoint', help="checkpoint file, or 'none' for initialised weights")
    p.add_argument('--shape', type=int, nargs=2, required=True, metavar=('H', 'W'))
    p.add_argument('--dynamic-shape', action='store_true',
                   help='export H and W as dynamic dimensions')
    p.add_argument('--out', help='ONNX file (default: work_dirs/onnx/<config name>.onnx)')
    p.add_argument('--image', help='image file for the check (default: random pixels)')
    p.add_argument('--loop', choices=['scan', 'unroll'], default='scan',
                   help='how chunked attention is written into the graph (docs/deploy.md)')
    p.add_argument('--memory-budget', type=int,
                   help='bytes of one attention score block, set on every attention module')
    p.add_argument('--check-graph', type=int, metavar='N',
                   help='fail if a value of the graph has two dimensions equal to N')
    p.add_argument('--json', help='write the report here as JSON')
    p.add_argument('--cfg-options', nargs='+', action=DictAction, default={})
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    from attnplug.deploy import export_and_check, largest_value, load_model, quadratic_values
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    out = args.out or osp.join('work_dirs', 'onnx',
                               osp.splitext(osp.basename(args.config))[0] + '.onnx')
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    ckpt = None if args.checkpoint.lower() == 'none' else args.checkpoint
    model, task = load_model(cfg, ckpt)
    report = export_and_check(cfg, ckpt, tuple(args.shape), out, dynamic=args.dynamic_shape,
                              image=args.image, memory_budget=args.memory_budget,
                              loop=args.loop, model=model, task=task)
    ok = report['max_abs_diff'] <= TOLERANCE
    print(f"exported {task} model to {', '.join(report['files'])} "
          f"({report['export_s']} s, {'dynamic' if args.dynamic_shape else 'static'} shape)")
    for c in report['checks']:
        line = f"  {c['shape'][0]}x{c['shape'][1]}: max |onnxruntime - pytorch| = " \
               f"{c['max_abs_diff']:.3g}"
        if task == 'segmentation':
            line += f", argmax equal on {100 * c['argmax_equal']:.2f}% of pixels"
        else:
            same = c['labels_equal'] and c['box_diff'] <= TOLERANCE
            ok = ok and same
            line += (f"; boxes: {c['boxes_a']} onnxruntime vs {c['boxes_b']} test.py, "
                     f"max box diff {c['box_diff']:.3g}, labels "
                     f"{'equal' if c['labels_equal'] else 'DIFFER'}")
        print(line)
    if args.check_graph:
        quad = quadratic_values(out, args.check_graph)
        name, shape, numel = largest_value(out, containing=args.check_graph)
        report['graph_check'] = dict(n=args.check_graph, nxn_values=[list(map(str, s))
                                                                   for _, s in quad],
                                     largest_with_n=[str(d) for d in shape], largest_numel=numel)
        print(f'  graph: {len(quad)} value(s) with two dims = N = {args.check_graph}; '
              f'largest value with an N dim: {shape} ({numel * 4 / 2**20:.1f} MiB fp32)')
        ok = ok and not quad
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(report, f, indent=1)
    print('OK' if ok else f'FAILED (tolerance {TOLERANCE})')
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
