"""Test a checkpoint with the stock MMSegmentation or MMDetection ``tools/test.py``.

Same command line as OpenMMLab's ``tools/test.py``::

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out OUT] [--show]
                         [--show-dir DIR] [--wait-time S] [--tta]
                         [--cfg-options k=v ...] [--launcher ...]

``--out`` follows the package: a directory of predicted masks for mmseg, a
``.pkl`` dump for mmdet. Importing attnplug first lets torch >= 2.6 load the
checkpoint without turning ``weights_only`` off.
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from _launch import run  # noqa: E402

if __name__ == '__main__':
    run('test', sys.argv[1:])
