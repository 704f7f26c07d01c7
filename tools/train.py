"""Train any attnplug (or OpenMMLab) config with the stock MMSegmentation or MMDetection tool.

Same command line as OpenMMLab's ``tools/train.py``::

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp]
                                 [--auto-scale-lr] [--cfg-options k=v ...]
                                 [--launcher {none,pytorch,slurm,mpi}]

The package is chosen by the config's ``default_scope``. ``--resume`` accepts an
optional checkpoint path for both packages (mmseg's own flag takes none).
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from _launch import run  # noqa: E402


def translate(scope, argv, cfg_options):
    if scope != 'mmseg' or '--resume' not in argv:
        return argv, cfg_options
    i = argv.index('--resume')
    if i + 1 < len(argv) and not argv[i + 1].startswith('-'):
        # mmseg's --resume is a switch: resume from a given checkpoint through load_from.
        cfg_options = cfg_options + [f'load_from={argv[i + 1]}']
        argv = argv[:i + 1] + argv[i + 2:]
    return argv, cfg_options


if __name__ == '__main__':
    run('train', sys.argv[1:], translate)
