"""Export attnplug (and any mmseg / mmdet) models to ONNX with torch's dynamo exporter.

What is exported (see ``docs/deploy.md``):

* **segmentors** (mmseg ``EncoderDecoder``): ``image -> logits``, the whole-image logits of
  ``test.py``'s ``mode='whole'`` inference (``EncoderDecoder.encode_decode``), resized to the
  input size. The data pre-processor's channel flip and mean/std normalisation are part of the
  graph, so the input is the image as ``mmcv.imread`` gives it: (B, 3, H, W) float BGR 0-255.
* **detectors** (mmdet): the network up to its raw head outputs; boxes come from
  :mod:`attnplug.deploy.detection`'s Python post-processing, which runs mmdet's own
  ``predict_by_feat`` code on them and so gives ``test.py``'s boxes.
  - one-stage (``bbox_head``): ``image -> cls_scores..., bbox_preds...`` (one per level);
  - two-stage (``rpn_head`` + ``roi_head``): two graphs, ``image -> FPN features...,
    rpn_cls..., rpn_reg...`` and ``roi_feats (K, C, 7, 7) -> cls_score, bbox_pred``; the
    proposals (NMS) and RoIAlign between them run in the post-processing.

The exporter is ``torch.onnx.export(..., dynamo=True)`` (torch >= 2.6; needs ``onnxscript``):
the TorchScript exporter fails on criss-cross attention (``aten::diag``). Chunked attention
is written as one ONNX ``Scan`` (:func:`attnplug.functional.bounded_attention.export_loop`).
"""
import copy
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ['load_model', 'model_task', 'SegmentorForExport', 'DetectorForExport',
           'RoIHeadForExport', 'export_onnx', 'set_attention_budget', 'DEFAULT_OPSET']

#: ONNX opset of the exported graphs (the dynamo exporter's own default, 18 on torch 2.13).
DEFAULT_OPSET = 18


def model_task(cfg) -> str:
    """'segmentation' or 'detection', from the config's ``default_scope``."""
    scope = cfg.get('default_scope')
    if scope == 'mmseg':
        return 'segmentation'
    if scope == 'mmdet':
        return 'detection'
    raise ValueError(f"attnplug.deploy: config default_scope must be 'mmseg' or 'mmdet', "
                     f'got {scope!r}')


def load_model(config, checkpoint: Optional[str] = None, device: str = 'cpu'):
    """Build a model from a config and load a checkpoint the way the stock tools do.

    ``mmseg.apis.init_model`` / ``mmdet.apis.init_detector`` call mmengine's
    ``load_checkpoint``, i.e. ``torch.load`` with torch's default ``weights_only=True``;
    importing attnplug allowlists exactly the mmengine types its checkpoints pickle.

    Args:
        config (str | Config): Config file or object.
        checkpoint (str, optional): Checkpoint file; None keeps the initialised weights.
        device (str): Default: 'cpu'.

    Returns:
        tuple: (model in eval mode, task: 'segmentation' | 'detection').
    """
    import attnplug  # noqa: F401  (safe checkpoint globals)
    from mmengine.config import Config
    cfg = Config.fromfile(config) if isinstance(config, str) else copy.deepcopy(config)
    task = model_task(cfg)
    if task == 'segmentation':
        from mmseg.apis import init_model
        model = init_model(cfg, checkpoint, device=device)
    else:
        from mmdet.apis import init_detector
        model = init_detector(cfg, checkpoint, device=device)
    return model.eval(), task


def set_attention_budget(model: nn.Module, memory_budget: int) -> List[str]:
    """Set ``memory_budget`` (bytes of one fp32 block of attention scores) on every attnplug
    module that has one (PositionAttention, NonLocal2d, MultiHeadAttention2d, heads).

    Returns:
        list[str]: Names of the modules changed.
    """
    if int(memory_budget) <= 0:
        raise ValueError(f'set_attention_budget: memory_budget must be a positive number of '
                         f'bytes, got {memory_budget}')
    changed = []
    for name, m in model.named_modules():
        if hasattr(m, 'memory_budget') and isinstance(getattr(m, 'memory_budget'), int):
            m.memory_budget = int(memory_budget)
            changed.append(name)
    return changed


class _Preprocess(nn.Module):
    """The data pre-processor's per-image part: BGR->RGB flip and (x - mean) / std, then
    zero padding to ``pad_size_divisor`` (detectors). Batch stacking is the caller's."""

    def __init__(self, data_preprocessor):
        super().__init__()
        dp = data_preprocessor
        if getattr(dp, 'test_cfg', None):
            raise ValueError(f'attnplug.deploy: data_preprocessor.test_cfg={dp.test_cfg} '
                             f'(test-time '
                             f'padding) is not part of the exported graph; pad the input '
                             f'before it instead and drop test_cfg from the config')
        # mmengine's ImgDataPreprocessor (mmdet) says _channel_conversion, mmseg's
        # SegDataPreProcessor channel_conversion.
        self.flip = bool(getattr(dp, '_channel_conversion', False)
                         or getattr(dp, 'channel_conversion', False))
        self.normalize = bool(getattr(dp, '_enable_normalize', False))
        if self.normalize:
            self.register_buffer('mean', dp.mean.detach().clone().reshape(1, -1, 1, 1))
            self.register_buffer('std', dp.std.detach().clone().reshape(1, -1, 1, 1))
        self.divisor = int(getattr(dp, 'pad_size_divisor', 1) or 1)
        self.pad_value = float(getattr(dp, 'pad_value', 0) or 0)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = image.float()
        if self.flip:
            x = x.flip(1)
        if self.normalize:
            x = (x - self.mean) / self.std
        if self.divisor > 1:
            h, w = x.shape[-2:]
            ph, pw = (-h) % self.divisor, (-w) % self.divisor
            x = F.pad(x, (0, pw, 0, ph), value=self.pad_value)
        return x


class SegmentorForExport(nn.Module):
    """``image (B, 3, H, W) BGR 0-255 -> logits (B, classes, H, W)``: the whole-image
    inference of an mmseg ``EncoderDecoder`` (``encode_decode``), pre-processing included."""

    def __init__(self, segmentor: nn.Module):
        super().__init__()
        if not hasattr(segmentor, 'encode_decode'):
            raise TypeError(f'SegmentorForExport: expected an mmseg EncoderDecoder, got '
                            f'{type(segmentor).__name__}')
        self.preprocess = _Preprocess(segmentor.data_preprocessor)
        self.model = segmentor

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = self.preprocess(image)
        shape = tuple(x.shape[-2:])
        metas = [dict(img_shape=shape, ori_shape=shape, pad_shape=shape)] * x.shape[0]
        return self.model.encode_decode(x, metas)


def _is_two_stage(detector) -> bool:
    return hasattr(detector, 'rpn_head') and hasattr(detector, 'roi_head')


class DetectorForExport(nn.Module):
    """The network part of an mmdet detector: pre-processing, backbone, neck and the raw
    outputs of its first head.

    Outputs, flattened to a tuple: one-stage: every ``bbox_head(feats)`` list in order
    (e.g. cls_scores of each level, then bbox_preds of each level); two-stage: the neck's
    features, then ``rpn_head(feats)``'s cls_scores and bbox_preds of each level.
    """

    def __init__(self, detector: nn.Module):
        super().__init__()
        self.preprocess = _Preprocess(detector.data_preprocessor)
        self.model = detector
        self.two_stage = _is_two_stage(detector)
        if not self.two_stage and not hasattr(detector, 'bbox_head'):
            raise TypeError(f'DetectorForExport: {type(detector).__name__} has neither a '
                            f'bbox_head nor rpn_head + roi_head')

    def forward(self, image: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        feats = self.model.extract_feat(self.preprocess(image))
        if self.two_stage:
            cls_scores, bbox_preds = self.model.rpn_head(feats)
            return (*feats, *cls_scores, *bbox_preds)
        outs = self.model.bbox_head(feats)
        return tuple(t for level_list in outs for t in level_list)


class RoIHeadForExport(nn.Module):
    """A two-stage detector's box head on pooled RoI features:
    ``roi_feats (K, C, h, w) -> cls_score (K, classes + 1), bbox_pred (K, 4·classes)``."""

    def __init__(self, detector: nn.Module):
        super().__init__()
        if not _is_two_stage(detector):
            raise TypeError(f'RoIHeadForExport: {type(detector).__name__} is not two-stage')
        self.bbox_head = detector.roi_head.bbox_head

    def forward(self, roi_feats: torch.Tensor):
        return self.bbox_head(roi_feats)


def export_onnx(module: nn.Module,
                example: Sequence[torch.Tensor],
                out: str,
                input_names: Sequence[str],
                output_names: Optional[Sequence[str]] = None,
                dynamic_dims: Optional[Dict[str, Dict[int, Tuple[str, int, int]]]] = None,
                opset: int = DEFAULT_OPSET,
                loop: str = 'scan') -> str:
    """Export ``module(*example)`` with ``torch.onnx.export(..., dynamo=True)``.

    Args:
        module (nn.Module): In eval mode.
        example (sequence[Tensor]): Example inputs (their values are traced, not baked in).
        out (str): The .onnx file to write (weights inside the file).
        input_names, output_names: Names of the graph's inputs and outputs.
        dynamic_dims (dict, optional): ``{input_name: {dim: (name, min, max)}}``; None exports
            static shapes.
        opset (int): ONNX opset. Default: :data:`DEFAULT_OPSET`.
        loop (str): How chunked attention is written: 'scan' or 'unroll'
            (:func:`attnplug.functional.bounded_attention.export_loop`).

    Returns:
        str: ``out``.
    """
    from attnplug.functional.bounded_attention import export_loop
    dynamic_shapes = None
    if dynamic_dims:
        from torch.export import Dim
        dynamic_shapes = tuple(
            {d: Dim(n, min=lo, max=hi) for d, (n, lo, hi) in dynamic_dims.get(name, {}).items()}
            or None for name in input_names)
    with torch.no_grad(), export_loop(loop):
        program = torch.onnx.export(
            module, tuple(example), dynamo=True, opset_version=opset,
            input_names=list(input_names), output_names=list(output_names or []) or None,
            dynamic_shapes=dynamic_shapes, external_data=False, verbose=False)
    program.save(out, external_data=False)
    return out


def save_random_checkpoint(config, path: str, seed: int = 0):
    """Save ``config``'s model as an mmengine checkpoint (``state_dict`` + ``meta``) with random
    values where it would start at zero (attention gammas, zero-initialised output convs: the
    identity-at-init blocks, which would make an export check vacuous) and random BN
    statistics. What the deploy tests and ``tools/benchmark_deploy.py`` export when no trained
    checkpoint is given. Returns ``(model, task)``."""
    import torch
    model, task = load_model(config, None)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in list(model.named_parameters()) + list(model.named_buffers()):
            if not t.dtype.is_floating_point:
                continue
            if name.endswith('running_var'):
                t.copy_(torch.rand(t.shape, generator=gen) * 0.4 + 0.8)
            elif name.endswith('running_mean') or not t.any():
                t.copy_(torch.rand(t.shape, generator=gen) * 0.4 - 0.2)
    torch.save(dict(state_dict=model.state_dict(), meta=dict(seed=seed)), path)
    return model, task
