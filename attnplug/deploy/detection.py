"""Boxes from the raw outputs of an exported mmdet detector, as ``test.py`` gives them.

The post-processing is mmdet's own code, run on the onnxruntime outputs instead of the
PyTorch ones, so it cannot drift from ``test.py``:

* one-stage: ``bbox_head.predict_by_feat(cls_scores, bbox_preds, ...)`` (decoding, score
  threshold, NMS, rescaling);
* two-stage: ``rpn_head.predict_by_feat`` (proposals: decoding + NMS), then the RoI
  extractor (mmcv ``RoIAlign`` over the FPN levels chosen by RoI scale), the exported box
  head on the pooled features, and ``roi_head.bbox_head.predict_by_feat``.

These parts have no weights: ``detector`` may be built from the config alone. NMS and
RoIAlign therefore run in Python (mmcv ops), not in the ONNX graph.
"""
from typing import Callable, List, Sequence

import numpy as np
import torch

__all__ = ['image_metas', 'detection_postprocess']


def image_metas(img_shape, ori_shape=None, scale_factor=(1.0, 1.0), pad_shape=None) -> dict:
    """The meta information mmdet's ``predict_by_feat`` reads for one image.

    Args:
        img_shape (tuple[int, int]): (H, W) of the network input before padding.
        ori_shape (tuple[int, int], optional): (H, W) of the original image (boxes are
            rescaled to it by ``scale_factor``). Default: ``img_shape``.
        scale_factor (tuple[float, float]): (w, h) resize factor of the test pipeline.
        pad_shape (tuple[int, int], optional): (H, W) after padding. Default: ``img_shape``.
    """
    img_shape = tuple(int(s) for s in img_shape)
    return dict(img_shape=img_shape, ori_shape=tuple(ori_shape or img_shape),
                scale_factor=tuple(scale_factor), pad_shape=tuple(pad_shape or img_shape),
                batch_input_shape=tuple(pad_shape or img_shape))


def _tensors(outputs: Sequence) -> List[torch.Tensor]:
    return [torch.from_numpy(np.asarray(o)) if not torch.is_tensor(o) else o for o in outputs]


@torch.no_grad()
def detection_postprocess(detector, outputs: Sequence, metas: List[dict],
                          roi_head_fn: Callable = None, rescale: bool = True):
    """Boxes from a :class:`~attnplug.deploy.export.DetectorForExport` graph's outputs.

    Args:
        detector (nn.Module): The mmdet detector built from the same config (weights are
            not used by this function).
        outputs (sequence[ndarray | Tensor]): The graph's outputs, in order.
        metas (list[dict]): One :func:`image_metas` per image of the batch.
        roi_head_fn (callable): Two-stage only: ``roi_feats (K, C, h, w) -> (cls_score,
            bbox_pred)``, e.g. an onnxruntime session of :class:`RoIHeadForExport`.
        rescale (bool): Rescale boxes to ``ori_shape`` (as ``test.py``). Default: True.

    Returns:
        list[InstanceData]: Per image ``bboxes`` (n, 4), ``scores`` (n,), ``labels`` (n,).
    """
    from mmdet.structures.bbox import bbox2roi
    outs = _tensors(outputs)
    if not (hasattr(detector, 'rpn_head') and hasattr(detector, 'roi_head')):
        # bbox_head(feats) returns lists with one tensor per level (cls_scores, bbox_preds and,
        # for some heads, objectness / centerness): regroup them by the level count.
        head = detector.bbox_head
        levels = head.prior_generator.num_levels
        if len(outs) % levels:
            raise ValueError(f'detection_postprocess: {len(outs)} outputs cannot be split into '
                             f'lists of {levels} levels for {type(head).__name__}')
        groups = [outs[i:i + levels] for i in range(0, len(outs), levels)]
        return head.predict_by_feat(*groups, batch_img_metas=metas, rescale=rescale)
    if roi_head_fn is None:
        raise ValueError('detection_postprocess: a two-stage detector needs roi_head_fn '
                         '(the exported box head)')
    levels = (len(outs)) // 3
    feats, cls_scores, bbox_preds = outs[:levels], outs[levels:2 * levels], outs[2 * levels:]
    test_cfg = detector.test_cfg
    proposals = detector.rpn_head.predict_by_feat(
        cls_scores, bbox_preds, batch_img_metas=metas, cfg=test_cfg.rpn, rescale=False)
    roi_head = detector.roi_head
    rois = bbox2roi([p.bboxes for p in proposals])
    if rois.shape[0] == 0:
        # mmdet's empty-result path (roi_head.predict_bbox does the same).
        from mmdet.models.utils import empty_instances
        return empty_instances(metas, rois.device, task_type='bbox',
                               box_type=roi_head.bbox_head.predict_box_type,
                               num_classes=roi_head.bbox_head.num_classes,
                               score_per_cls=False)
    extractor = roi_head.bbox_roi_extractor
    roi_feats = extractor(tuple(feats[:extractor.num_inputs]), rois)
    cls_score, bbox_pred = _tensors(roi_head_fn(roi_feats))
    per_image = tuple(len(p) for p in proposals)
    return roi_head.bbox_head.predict_by_feat(
        rois=rois.split(per_image, 0), cls_scores=cls_score.split(per_image, 0),
        bbox_preds=bbox_pred.split(per_image, 0), batch_img_metas=metas,
        rcnn_test_cfg=test_cfg.rcnn, rescale=rescale)
