"""Dry run of ``attnplug.WithPlugins`` in a config: where the plugins go and what they cost.

    python tools/show_plugins.py CONFIG [CONFIG ...] [--shape H W] [--cfg-options k=v ...]
                                 [--json OUT.json] [--csv OUT.csv] [--md OUT.md]
    python tools/show_plugins.py CONFIG --candidates [--part backbone] [--json OUT.json]

``--candidates``: where plugins *can* go, for any config (with or without ``WithPlugins``):
every path of the part (default: the backbone) whose output is a feature map or a token
sequence with a grid found by the dry run, with its layout, channels, feature shape at the
first probe size and, for tokens, where H x W comes from; then ``after=`` patterns for the
usual placements (every block, every block of stages 2-S, per stage, last block of each stage,
stage outputs), each with the channels it gets.

For every model part built by ``attnplug.WithPlugins`` (backbone, neck or head), it prints the
paths the ``after=`` patterns matched, the layout and channels found there, the feature each
plugin sees at the given image size, and the parameters and FLOPs the plugins add, against
the part without them. Nothing is trained and nothing is downloaded: the model is built with
pretrained weights removed, in eval mode, and run once on a random image through its data
preprocessor (FLOPs: mmengine's analyzer with attnplug's attention handles, one multiply-add =
one FLOP, as ``tools/get_flops.py``).

Default ``--shape``: ``attnplug.analysis.flops.default_input_shape`` (the config's
``crop_size`` for mmseg; for mmdet the test pipeline's ``Pad`` size or ``Resize`` scale, else
800x1333). With ``--md``/``--csv``/``--json`` the results of all configs
are written with the date, the device and the command.
"""
import argparse
import csv
import datetime
import json
import os
import os.path as osp
import platform
import sys
from typing import Any, Dict, List, Optional

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import torch  # noqa: E402
from mmengine.config import DictAction  # noqa: E402

import attnplug  # noqa: E402,F401  (safe checkpoint globals)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='Where attnplug.WithPlugins puts plugins, and the cost')
    p.add_argument('configs', nargs='+', metavar='CONFIG')
    p.add_argument('--shape', type=int, nargs='+', help='input H W (or one side for a square)')
    p.add_argument('--cfg-options', nargs='+', action=DictAction, default={})
    p.add_argument('--json', help='write every site of every config to this JSON file')
    p.add_argument('--csv', help='write one row per config to this CSV file')
    p.add_argument('--md', help='write the summary and the sites as markdown to this file')
    p.add_argument('--candidates', action='store_true',
                   help='list the paths plugins can follow and suggest after= patterns')
    p.add_argument('--part', default='backbone',
                   help='with --candidates: the model part to list (default: backbone)')
    p.add_argument('--from-json', action='store_true',
                   help='CONFIG is a JSON written by --json: re-render --md/--csv from it '
                   'without building anything (its date, device and command are kept)')
    return p.parse_args(argv)


def _flops(module, inputs) -> int:
    from attnplug.analysis.flops import get_model_complexity_info_with_attention
    return int(get_model_complexity_info_with_attention(module, inputs=inputs)['flops'])


def device_name() -> str:
    name = platform.processor() or 'CPU'
    try:
        with open('/proc/cpuinfo') as f:
            name = next((line.split(':', 1)[1].strip() for line in f
                         if line.startswith('model name')), name)
    except OSError:
        pass
    return f'{name} (CPU, {os.cpu_count()} cores visible)'


def analyse(config: str, shape=None, cfg_options: Optional[dict] = None) -> Dict[str, Any]:
    """Build ``config`` and describe its plugins. Returns a JSON-ready dict."""
    from attnplug.analysis.build import build_model, config_scope, dummy_inputs, load_config
    from attnplug.analysis.flops import default_input_shape
    from attnplug.models.with_plugins import PLUGINS_ATTR, plugin_sites

    cfg = load_config(config, cfg_options)
    scope = config_scope(cfg)
    if shape is None:
        shape = default_input_shape(cfg, scope)
    elif len(shape) == 1:
        shape = (shape[0], shape[0])
    model = build_model(cfg, drop_auxiliary=True)
    parts = [(name, m) for name, m in model.named_modules()
             if plugin_sites(m) and not name.split('.')[-1] == PLUGINS_ATTR]
    if not parts:
        raise SystemExit(f'show_plugins: {config} builds no part with attnplug.WithPlugins '
                         f"(type='attnplug.WithPlugins', wraps=..., plugins=[...])")
    seen, handles = {}, []

    def record(module, args):  # returns None: the plugin's input is left as it is
        seen.setdefault(id(module), tuple(args[0].shape))

    for _, part in parts:
        for site in plugin_sites(part):
            for name in site.plugin_names:
                handles.append(getattr(site, name).register_forward_pre_hook(record))
    with torch.no_grad():
        inputs, samples = dummy_inputs(model, scope, shape)
        model(inputs, samples, mode='tensor')
    for h in handles:
        h.remove()
    result = dict(config=config, scope=scope, input_shape=list(inputs.shape[-2:]), parts=[])
    for part_name, part in parts:
        sites = []
        for site in plugin_sites(part):
            for name in site.plugin_names:
                plugin = getattr(site, name)
                feat = seen.get(id(plugin))
                flops = _flops(plugin.eval(), (torch.randn(feat), )) if feat else None
                sites.append(dict(path=site.path, index=site.index, layout=site.layout,
                                  channels=site.channels, feature=list(feat) if feat else None,
                                  plugin=name, type=type(plugin).__name__,
                                  params=sum(p.numel() for p in plugin.parameters()),
                                  flops=flops))
        plugin_params = sum(p.numel() for p in getattr(part, PLUGINS_ATTR).parameters())
        part_params = sum(p.numel() for p in part.parameters()) - plugin_params
        part_flops = None
        if part is getattr(model, 'backbone', None):  # a part that takes the image
            part_flops = _flops(part, (inputs, )) - sum(s['flops'] or 0 for s in sites)
        result['parts'].append(dict(
            part=part_name, wraps=type(part).__name__, sites=sites,
            plugin_params=plugin_params, part_params=part_params,
            plugin_flops=sum(s['flops'] or 0 for s in sites), part_flops=part_flops,
            uncalled=[s['path'] for s in sites if s['feature'] is None]))
    return result


def candidates(config: str, part: str = 'backbone',
               cfg_options: Optional[dict] = None) -> Dict[str, Any]:
    """Every path of ``config``'s ``part`` a plugin can follow, and suggested placements.
    Returns a JSON-ready dict."""
    from attnplug.analysis.build import build_model, load_config
    from attnplug.models.with_plugins import find_candidates, suggest_placements

    cfg = load_config(config, cfg_options)
    model = build_model(cfg, drop_auxiliary=True)
    module = model
    for name in part.split('.'):
        if not hasattr(module, name):
            raise SystemExit(f'show_plugins: {config}: the model has no part {part!r} '
                             f'(its parts: {", ".join(n for n, _ in model.named_children())})')
        module = getattr(module, name)
    found, sizes = find_candidates(module)
    by_path = {c.path: c for c in found}
    rows = [dict(path=c.path, type=c.type, layout=c.layout, channels=c.channels, index=c.index,
                 shape=list(c.shape), grid=c.grid()) for c in found]
    placements = [dict(name=p.name, after=p.after, sites=len(p.paths),
                       channels=[by_path[q].channels for q in p.paths],
                       layouts=sorted({by_path[q].layout for q in p.paths}))
                  for p in suggest_placements(module, found)]
    return dict(config=config, part=part, type=type(module).__name__,
                probe_sizes=[list(s) for s in sizes], candidates=rows, placements=placements)


def print_candidates(r: dict) -> None:
    line = '=' * 78
    print(f"{line}\nConfig: {r['config']}\n{r['part']} = {r['type']}: {len(r['candidates'])} "
          f"candidate paths (dry run at {', '.join('x'.join(map(str, s)) for s in r['probe_sizes'])})")
    print(f"  {'path':40s} {'type':24s} {'layout':6s} {'C':>5s}  feature / grid")
    for c in r['candidates']:
        path = c['path'] + ('' if c['index'] is None else f"[{c['index']}]")
        print(f"  {path:40s} {c['type'][:24]:24s} {c['layout']:6s} {c['channels']:5d}  "
              f"{tuple(c['shape'])} {c['grid']}")
    print('\nSuggested placements (after=...):')
    for p in r['placements']:
        print(f"  {p['name']:34s} after={p['after']!r}\n  {'':34s} {p['sites']} site(s), "
              f"{'/'.join(p['layouts'])}, C = {p['channels']}")
    print(line)


def _g(n) -> str:
    if n is None:
        return '-'
    return f'{n / 1e9:.3f}G' if n >= 1e9 else f'{n / 1e6:.3f}M'


def _m(n) -> str:
    return f'{n / 1e6:.3f}M'


def _pct(a, b) -> str:
    if not b or a is None:
        return '-'
    return f'{100 * a / b:.1f}%' if 100 * a / b >= 0.1 else f'{100 * a / b:.3f}%'


def summary_rows(results: List[dict]) -> List[dict]:
    rows = []
    for r in results:
        for p in r['parts']:
            rows.append(dict(
                config=osp.basename(r['config']), part=p['part'], wraps=p['wraps'],
                input=f"{r['input_shape'][0]}x{r['input_shape'][1]}", sites=len(p['sites']),
                layouts='/'.join(sorted({s['layout'] for s in p['sites']})),
                channels='/'.join(str(c) for c in sorted({s['channels'] for s in p['sites']})),
                plugin_params=p['plugin_params'], part_params=p['part_params'],
                params_pct=_pct(p['plugin_params'], p['part_params']),
                plugin_flops=p['plugin_flops'], part_flops=p['part_flops'],
                flops_pct=_pct(p['plugin_flops'], p['part_flops'])))
    return rows


def print_result(r: dict) -> None:
    line = '=' * 78
    print(f"{line}\nConfig: {r['config']}\nInput: {tuple(r['input_shape'])} (after the data "
          f"preprocessor)")
    for p in r['parts']:
        print(f"\n{p['part']} = {p['wraps']} with {len(p['sites'])} plugin(s)")
        print(f"  {'after':28s} {'layout':6s} {'C':>5s} {'feature (N,C,H,W)':22s} "
              f"{'plugin':18s} {'params':>9s} {'FLOPs':>9s}")
        for s in p['sites']:
            path = s['path'] + ('' if s['index'] is None else f"[{s['index']}]")
            feat = 'not called' if s['feature'] is None else str(tuple(s['feature']))
            print(f"  {path:28s} {s['layout']:6s} {s['channels']:5d} {feat:22s} "
                  f"{s['type'][:18]:18s} {s['params']:9,d} {_g(s['flops']):>9s}")
        print(f"  added params: {_m(p['plugin_params'])} on {_m(p['part_params'])} "
              f"({_pct(p['plugin_params'], p['part_params'])})")
        print(f"  added FLOPs:  {_g(p['plugin_flops'])} on {_g(p['part_flops'])} "
              f"({_pct(p['plugin_flops'], p['part_flops'])})")
    print(line)


def write_md(path: str, results: List[dict], header: List[str]) -> None:
    rows = summary_rows(results)
    lines = ['# Plugin placements and their cost (tools/show_plugins.py)', '',
             '<!-- generated by tools/show_plugins.py; do not edit by hand -->', ''] + \
        [f'- {h}' for h in header] + [
        '', '| config | part | wraps | input | sites | layout | C | added params | '
        '% of part | added FLOPs | % of part |', '|---|---|---|---|---:|---|---|---:|---:|---:|---:|']
    for r in rows:
        lines.append(f"| {r['config']} | {r['part']} | {r['wraps']} | {r['input']} | "
                     f"{r['sites']} | {r['layouts']} | {r['channels']} | "
                     f"{_m(r['plugin_params'])} | {r['params_pct']} | {_g(r['plugin_flops'])} | "
                     f"{r['flops_pct']} |")
    lines += ['', 'FLOPs: one multiply-add = one FLOP (mmengine), attention counted '
              '(attnplug.analysis.flops); element-wise products, such as the gating of CBAM, are '
              'not counted, as mmengine counts none. "% of part": of the part without its '
              'plugins; FLOPs of the part only where it takes the image (a backbone).', '',
              '## Matched paths', '']
    for r in results:
        for p in r['parts']:
            paths = ', '.join(f"`{s['path']}`" for s in p['sites'])
            feats = sorted({'x'.join(map(str, s['feature'][1:])) for s in p['sites']
                            if s['feature']})
            lines.append(f"- **{osp.basename(r['config'])}** ({p['part']}): {paths}; features "
                         f"(C x H x W) {', '.join(feats)}")
    with open(path, 'w') as f:
        f.write('\n'.join(lines) + '\n')


def main(argv=None):
    args = parse_args(argv)
    started = datetime.datetime.now(datetime.timezone.utc)
    if args.candidates:
        results = []
        for config in args.configs:
            r = candidates(config, args.part, args.cfg_options)
            print_candidates(r)
            results.append(r)
        if args.json:
            header = [f"date: {started.strftime('%Y-%m-%d %H:%M UTC')}",
                      f'device: {device_name()}', 'command: `python tools/show_plugins.py ' +
                      ' '.join(argv if argv is not None else sys.argv[1:]) + '`']
            with open(args.json, 'w') as f:
                json.dump(dict(header=header, results=results), f, indent=1)
        return results
    if args.from_json:
        with open(args.configs[0]) as f:
            saved = json.load(f)
        results, header = saved['results'], saved['header']
        for r in results:
            print_result(r)
    else:
        results = []
        for config in args.configs:
            r = analyse(config, args.shape, args.cfg_options)
            print_result(r)
            results.append(r)
        header = [f"date: {started.strftime('%Y-%m-%d %H:%M UTC')}", f'device: {device_name()}',
                  f'torch {torch.__version__}, Python {platform.python_version()}',
                  'command: `python tools/show_plugins.py ' + ' '.join(
                      argv if argv is not None else sys.argv[1:]) + '`']
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(dict(header=header, results=results), f, indent=1)
    if args.csv:
        rows = summary_rows(results)
        with open(args.csv, 'w', newline='') as f:
            f.write(''.join(f'# {h}\n' for h in header))
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    if args.md:
        write_md(args.md, results, header)
    return results


if __name__ == '__main__':
    main()
