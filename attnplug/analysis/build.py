"""Build an mmseg / mmdet model from any attnplug (or OpenMMLab) config, offline.

Shared by ``tools/get_flops.py``, ``tools/visualize_attention.py`` and
``tools/leaderboard.py``. The package is chosen by the config's ``default_scope``, as in
``tools/_launch.py``. Pretrained weights are removed from the config (``pretrained=None``,
``init_cfg`` of type ``Pretrained`` dropped) so that nothing is downloaded; a checkpoint, when
given, is loaded through mmengine, with :mod:`attnplug`'s safe globals for
``torch.load(weights_only=True)``.
"""
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch

import attnplug  # noqa: F401  (safe checkpoint globals before any torch.load)

__all__ = ['SCOPES', 'load_config', 'strip_pretrained', 'config_scope', 'build_model',
           'dummy_batch', 'dummy_inputs']

SCOPES = ('mmseg', 'mmdet')


def strip_pretrained(node: Any) -> Any:
    """Recursively set ``pretrained`` to None and drop ``init_cfg`` entries that load weights
    (``type='Pretrained'``) in a config node. Returns the node (edited in place)."""
    if isinstance(node, dict):
        if 'pretrained' in node:
            node['pretrained'] = None
        init_cfg = node.get('init_cfg')
        if isinstance(init_cfg, dict) and init_cfg.get('type') == 'Pretrained':
            node['init_cfg'] = None
        elif isinstance(init_cfg, (list, tuple)):
            node['init_cfg'] = [c for c in init_cfg
                                if not (isinstance(c, dict) and c.get('type') == 'Pretrained')]
        for value in node.values():
            strip_pretrained(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            strip_pretrained(value)
    return node


def load_config(path: str, cfg_options: Optional[Dict[str, Any]] = None):
    """``Config.fromfile`` + ``--cfg-options`` + :func:`strip_pretrained` on ``model``."""
    from mmengine.config import Config

    cfg = Config.fromfile(path)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    strip_pretrained(cfg.model)
    return cfg


def config_scope(cfg, override: Optional[str] = None) -> str:
    """The OpenMMLab package a config belongs to: its ``default_scope`` (or ``override``,
    as a ``--cfg-options default_scope=...`` would set it), checked to be one of
    :data:`SCOPES`. The one scope check of the project (the tools use it too).

    Raises:
        ValueError: naming the scope found and what was expected.
    """
    scope = override if override is not None else cfg.get('default_scope')
    if scope not in SCOPES:
        raise ValueError(f'attnplug: config has default_scope={scope!r}; expected one of '
                         f'{SCOPES} (inherit an mmseg:: or mmdet:: base config, or set '
                         "default_scope='mmseg'/'mmdet')")
    return scope


def build_model(cfg, checkpoint: Optional[str] = None, device: str = 'cpu',
                drop_auxiliary: bool = False) -> torch.nn.Module:
    """Build ``cfg.model`` in its scope, optionally load ``checkpoint``, move to ``device``
    and put it in eval mode; SyncBN is reverted to BN (no process group here).

    Args:
        cfg (Config): A config from :func:`load_config`.
        checkpoint (str, optional): A checkpoint path, loaded with mmengine's
            ``load_checkpoint`` (``weights_only`` stays on). Default: None.
        device (str): Default: 'cpu'.
        drop_auxiliary (bool): Remove an mmseg ``auxiliary_head`` (as mmseg's get_flops
            does: it is not used at inference). Default: False.
    """
    from mmengine.model import revert_sync_batchnorm
    from mmengine.registry import init_default_scope

    scope = config_scope(cfg)
    init_default_scope(scope)
    if scope == 'mmseg':
        import mmseg.models  # noqa: F401
        from mmseg.registry import MODELS
    else:
        import mmdet.models  # noqa: F401
        from mmdet.registry import MODELS
    model = MODELS.build(cfg.model)
    if drop_auxiliary and getattr(model, 'auxiliary_head', None) is not None:
        model.auxiliary_head = None
    model = revert_sync_batchnorm(model)
    if checkpoint is not None:
        from mmengine.runner import load_checkpoint
        ckpt = load_checkpoint(model, checkpoint, map_location='cpu')
        meta = ckpt.get('meta', {}) if isinstance(ckpt, dict) else {}
        dataset_meta = meta.get('dataset_meta')
        if dataset_meta:
            model.dataset_meta = dataset_meta
    model.cfg = cfg
    return model.to(device).eval()


def dummy_batch(scope: str, shape: Sequence[int], batch: int = 1, seed: int = 0
                ) -> Dict[str, list]:
    """A dataloader-style batch of random uint8 images of ``shape = (H, W)`` with the image
    metas the models' ``predict`` / ``'tensor'`` modes read: what ``model.test_step`` takes."""
    h, w = int(shape[0]), int(shape[1])
    g = torch.Generator().manual_seed(seed)
    images = [torch.randint(0, 256, (3, h, w), generator=g, dtype=torch.uint8)
              for _ in range(batch)]
    meta = dict(img_shape=(h, w), ori_shape=(h, w), pad_shape=(h, w), scale_factor=(1., 1.))
    if scope == 'mmseg':
        from mmseg.structures import SegDataSample
        samples = [SegDataSample(metainfo=meta) for _ in range(batch)]
    else:
        from mmdet.structures import DetDataSample
        samples = [DetDataSample(metainfo=meta) for _ in range(batch)]
    return {'inputs': images, 'data_samples': samples}


def dummy_inputs(model: torch.nn.Module, scope: str, shape: Sequence[int],
                 batch: int = 1, seed: int = 0) -> Tuple[torch.Tensor, List[Any]]:
    """:func:`dummy_batch` run through the model's data preprocessor.

    Returns:
        tuple: ``(inputs, data_samples)``; ``inputs`` is the normalised (padded) batch.
    """
    data = model.data_preprocessor(dummy_batch(scope, shape, batch, seed), False)
    return data['inputs'], data['data_samples']
