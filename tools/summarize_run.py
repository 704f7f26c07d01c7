"""Print what a train + test run produced: metrics, timings and where the files are.

Usage: python tools/summarize_run.py WORK_DIR [--train-seconds S] [--test-seconds S]

Reads mmengine's own outputs: ``WORK_DIR/last_checkpoint``, the newest
``WORK_DIR/<timestamp>/<timestamp>.log`` of training, and the scalars that
``tools/test.py --work-dir WORK_DIR/test`` wrote to ``<timestamp>/<timestamp>.json``.
"""
import argparse
import glob
import json
import os.path as osp


def newest(pattern):
    paths = sorted(glob.glob(pattern))
    return paths[-1] if paths else None


def test_metrics(test_dir):
    path = newest(osp.join(test_dir, '2*', '2*.json'))
    if path is None:
        raise SystemExit(f'no test results under {test_dir}: did tools/test.py run?')
    with open(path) as f:
        return json.load(f), path


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('work_dir')
    parser.add_argument('--train-seconds', type=int)
    parser.add_argument('--test-seconds', type=int)
    args = parser.parse_args()

    with open(osp.join(args.work_dir, 'last_checkpoint')) as f:
        ckpt = f.read().strip()
    metrics, scalars = test_metrics(osp.join(args.work_dir, 'test'))
    train_log = newest(osp.join(args.work_dir, '2*', '2*.log'))
    shown = {k: v for k, v in metrics.items() if k not in ('step', 'data_time', 'time')}
    print('test metrics  : ' + ', '.join(
        f'{k}={v:.2f}' if isinstance(v, float) else f'{k}={v}' for k, v in shown.items()))
    if args.train_seconds is not None:
        print(f'train time    : {args.train_seconds} s')
    if args.test_seconds is not None:
        print(f'test time     : {args.test_seconds} s')
    print(f'work dir      : {osp.abspath(args.work_dir)}')
    print(f'training log  : {osp.abspath(train_log) if train_log else "(none found)"}')
    print(f'checkpoints   : {osp.abspath(osp.dirname(ckpt))}/iter_*.pth (last: {osp.basename(ckpt)})')
    print(f'metrics json  : {osp.abspath(scalars)}')
    print(f'predictions   : {osp.abspath(osp.join(args.work_dir, "test", "show"))}')


if __name__ == '__main__':
    main()
