"""Run OpenMMLab's own ``tools/train.py`` / ``tools/test.py`` for a config.

attnplug does not fork the stock tools: it picks the package from the config's
``default_scope`` (``mmseg`` or ``mmdet``), makes the stack work on a modern
torch (``import attnplug``: safe checkpoint globals) and on CPU-only
distributed runs, translates the few flags that differ between the two
packages, and then runs the stock script of that package unchanged.
"""
import os
import os.path as osp
import runpy
import sys
from importlib.util import find_spec
from typing import List


def config_scope(config: str, cfg_options: List[str]) -> str:
    """The package of ``config`` (``--cfg-options default_scope=...`` wins, as in the stock
    tools), checked by :func:`attnplug.analysis.build.config_scope`."""
    from mmengine.config import Config

    from attnplug.analysis.build import config_scope as checked_scope
    if not osp.isfile(config):
        raise SystemExit(f'attnplug tools: config file not found: {config}')
    override = None
    for opt in cfg_options:
        if opt.startswith('default_scope='):
            override = opt.split('=', 1)[1]
    try:
        return checked_scope(Config.fromfile(config), override)
    except ValueError as err:
        raise SystemExit(f'attnplug tools: {config}: {err}') from err


def stock_tool(scope: str, name: str) -> str:
    spec = find_spec(scope)
    path = osp.join(osp.dirname(spec.origin), '.mim', 'tools', f'{name}.py')
    if not osp.isfile(path):
        raise SystemExit(f'attnplug tools: {path} is missing; reinstall '
                         f"{'mmsegmentation==1.2.2' if scope == 'mmseg' else 'mmdet==3.3.0'}")
    return path


def split_cfg_options(argv: List[str]):
    """Return (argv without --cfg-options values, the --cfg-options values)."""
    if '--cfg-options' not in argv:
        return list(argv), []
    i = argv.index('--cfg-options')
    j = i + 1
    while j < len(argv) and not argv[j].startswith('--'):
        j += 1
    return argv[:i] + argv[j:], argv[i + 1:j]


def launcher_of(argv: List[str]) -> str:
    for i, a in enumerate(argv):
        if a == '--launcher' and i + 1 < len(argv):
            return argv[i + 1]
        if a.startswith('--launcher='):
            return a.split('=', 1)[1]
    return 'none'


def run(name: str, argv: List[str], translate=None) -> None:
    """Run the stock tool ``name`` ('train' or 'test') with ``argv``."""
    import attnplug  # noqa: F401  (safe checkpoint globals for torch >= 2.6)
    from attnplug.compat import cpu_distributed_overrides, enable_cpu_distributed

    positional = [a for a in argv if a.endswith('.py') and not a.startswith('-')]
    if not positional:
        raise SystemExit(f'usage: tools/{name}.py CONFIG ... (see --help of the stock tool)')
    rest, cfg_options = split_cfg_options(argv)
    scope = config_scope(positional[0], cfg_options)
    if translate is not None:
        rest, cfg_options = translate(scope, rest, cfg_options)

    import torch
    if launcher_of(rest) != 'none' and not torch.cuda.is_available():
        enable_cpu_distributed()
        given = {o.split('=', 1)[0] for o in cfg_options}
        cfg_options += [f'{k}={v}' for k, v in cpu_distributed_overrides().items()
                        if k not in given]

    argv = rest + (['--cfg-options'] + cfg_options if cfg_options else [])
    path = stock_tool(scope, name)
    sys.argv = [path] + argv
    os.environ.setdefault('ATTNPLUG_SCOPE', scope)
    runpy.run_path(path, run_name='__main__')
    finish_distributed()


def finish_distributed() -> None:
    """Wait for every rank, then tear the process group down before the interpreter exits.

    A gloo group left to interpreter shutdown can abort a rank after the run has finished
    (``terminate called without an active exception``, SIGABRT), which torchrun reports as a
    failed run. Called only after the stock tool returned normally on every rank.
    """
    import torch.distributed as dist
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
