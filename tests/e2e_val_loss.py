"""Mean loss of a model on a config's validation images: with a checkpoint's weights, or
with the initialisation training starts from (no checkpoint). The end-to-end tests use it to
check that a trained model beats an untrained one where a few iterations cannot move a
detection metric such as mAP.

Usage: python tests/e2e_val_loss.py CONFIG [CHECKPOINT] [--cfg-options k=v ...]
Prints ``val_loss <float>``. Deterministic: fixed seeds, BN in eval mode.
"""
import argparse
import random

import numpy as np
import torch
from mmengine.config import Config, DictAction
from mmengine.registry import MODELS, init_default_scope
from mmengine.runner import Runner, load_checkpoint


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint', nargs='?')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = parser.parse_args()
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    init_default_scope(cfg.get('default_scope'))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    if args.checkpoint:
        load_checkpoint(model, args.checkpoint, map_location='cpu', strict=True)
    model.eval()
    losses = []
    with torch.no_grad():
        for data in Runner.build_dataloader(cfg.val_dataloader):
            # the samplers of the RPN and RoI heads draw at random: same draws for every model
            random.seed(0)
            np.random.seed(0)
            torch.manual_seed(0)
            data = model.data_preprocessor(data, True)
            loss, _ = model.parse_losses(model(**data, mode='loss'))
            losses.append(float(loss))
    print(f'val_loss {sum(losses) / len(losses):.6f}')


if __name__ == '__main__':
    main()
