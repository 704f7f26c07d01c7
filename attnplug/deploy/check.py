"""Export a model from its config and checkpoint, and check the ONNX graph with onnxruntime
against the PyTorch ``test.py`` path on a real input (:func:`export_and_check`)."""
import os.path as osp
import time
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from .detection import detection_postprocess, image_metas
from .export import (DetectorForExport, RoIHeadForExport, SegmentorForExport, export_onnx,
                     load_model, set_attention_budget)

__all__ = ['ort_session', 'ort_run', 'make_image', 'segmentor_test_step',
           'detector_test_step', 'export_and_check', 'compare_detections']


def ort_session(path: str, threads: Optional[int] = None):
    """An onnxruntime CPU session of ``path``."""
    import onnxruntime as ort
    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = int(threads)
    return ort.InferenceSession(path, sess_options=opts, providers=['CPUExecutionProvider'])


def ort_run(session, *inputs) -> List[np.ndarray]:
    """Run a session on positional inputs (tensors or arrays), in the graph's input order."""
    names = [i.name for i in session.get_inputs()]
    feed = {n: (x.detach().cpu().numpy() if torch.is_tensor(x) else np.asarray(x))
            for n, x in zip(names, inputs)}
    return session.run(None, feed)


def make_image(shape: Tuple[int, int], image: Optional[str] = None, seed: int = 0) -> torch.Tensor:
    """A (1, 3, H, W) float BGR 0-255 image: the file ``image`` resized to ``shape`` with
    mmcv (as ``mmcv.imread`` loads it), or deterministic random pixels."""
    h, w = shape
    if image:
        import mmcv
        arr = mmcv.imresize(mmcv.imread(image), (w, h))
        return torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1))).float()[None]
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (1, 3, h, w), generator=g).float()


@torch.no_grad()
def segmentor_test_step(model, image: torch.Tensor) -> torch.Tensor:
    """``seg_logits`` of ``model.test_step`` (the path of the stock ``test.py``) on
    ``image`` (1, 3, H, W) float BGR 0-255, as (1, classes, H, W)."""
    from mmseg.structures import SegDataSample
    shape = tuple(image.shape[-2:])
    sample = SegDataSample(metainfo=dict(img_shape=shape, ori_shape=shape))
    out = model.test_step(dict(inputs=[image[0]], data_samples=[sample]))
    return out[0].seg_logits.data[None]


@torch.no_grad()
def detector_test_step(model, image: torch.Tensor):
    """``pred_instances`` of ``model.test_step`` (the stock ``test.py`` path) on ``image``
    (1, 3, H, W) float BGR 0-255 (the test pipeline's resize already done: scale 1)."""
    from mmdet.structures import DetDataSample
    meta = image_metas(image.shape[-2:])
    sample = DetDataSample(metainfo=dict(img_shape=meta['img_shape'],
                                         ori_shape=meta['ori_shape'],
                                         scale_factor=meta['scale_factor']))
    out = model.test_step(dict(inputs=[image[0]], data_samples=[sample]))
    return out[0].pred_instances


def compare_detections(a, b) -> Dict[str, float]:
    """How far two InstanceData box sets are apart: counts, largest box and score
    difference (inf when the counts or the labels differ)."""
    res = dict(boxes_a=len(a), boxes_b=len(b), box_diff=float('inf'),
               score_diff=float('inf'), labels_equal=False)
    if len(a) == len(b):
        res['labels_equal'] = bool(torch.equal(a.labels, b.labels))
        if len(a) == 0:
            res.update(box_diff=0.0, score_diff=0.0)
        elif res['labels_equal']:
            res['box_diff'] = float((a.bboxes - b.bboxes).abs().max())
            res['score_diff'] = float((a.scores - b.scores).abs().max())
    return res


def _max_diff(outs: Sequence[np.ndarray], refs: Sequence[torch.Tensor]) -> float:
    if len(outs) != len(refs):
        raise AssertionError(f'onnxruntime gave {len(outs)} outputs, PyTorch {len(refs)}')
    return max(float((torch.from_numpy(o) - r).abs().max()) for o, r in zip(outs, refs))


def export_and_check(config,
                     checkpoint: Optional[str],
                     shape: Tuple[int, int],
                     out: str,
                     dynamic: bool = False,
                     image: Optional[str] = None,
                     memory_budget: Optional[int] = None,
                     loop: str = 'scan',
                     check_shape: Optional[Tuple[int, int]] = None,
                     model=None,
                     task: Optional[str] = None) -> Dict:
    """Export the model of ``config`` + ``checkpoint`` to ``out`` and check it.

    Args:
        config (str | Config): The model's config.
        checkpoint (str, optional): Its checkpoint (None: initialised weights).
        shape (tuple[int, int]): (H, W) of the exported input (and of the check).
        out (str): The .onnx file. A two-stage detector's box head goes beside it
            (``<out stem>.roi_head.onnx``).
        dynamic (bool): Export H and W as dynamic dimensions; the check then also runs at
            ``check_shape`` (default: ``shape`` + (32, 64)).
        image (str, optional): An image file for the check (else random pixels).
        memory_budget (int, optional): Bytes of one attention score block, set on every
            attnplug attention module before export (e.g. a small one to see the chunking).
        loop (str): 'scan' or 'unroll', how chunked attention is written.
        model, task: An already loaded model (skips ``load_model``).

    Returns:
        dict: ``task``, ``files``, ``export_s``, ``max_abs_diff`` (logits or raw outputs,
        over all checked sizes) and, for detectors, ``boxes`` (see
        :func:`compare_detections`, per checked size).
    """
    if model is None:
        model, task = load_model(config, checkpoint)
    if memory_budget:
        set_attention_budget(model, memory_budget)
    shapes = [tuple(shape)]
    if dynamic:
        shapes.append(tuple(check_shape) if check_shape else (shape[0] + 32, shape[1] + 64))
    dims = {'image': {2: ('height', 32, 4096), 3: ('width', 32, 4096)}} if dynamic else None
    example = make_image(shapes[0], image)
    report: Dict = dict(task=task, files=[out], shape=list(shape), dynamic=dynamic,
                        loop=loop, max_abs_diff=0.0)
    t0 = time.perf_counter()
    if task == 'segmentation':
        wrapper = SegmentorForExport(model).eval()
        export_onnx(wrapper, (example, ), out, ['image'], ['logits'], dims, loop=loop)
    else:
        wrapper = DetectorForExport(model).eval()
        export_onnx(wrapper, (example, ), out, ['image'], None, dims, loop=loop)
        if wrapper.two_stage:
            roi_out = osp.splitext(out)[0] + '.roi_head.onnx'
            ex = model.roi_head.bbox_roi_extractor
            size = ex.roi_layers[0].output_size
            roi_example = torch.randn(8, ex.out_channels, *size)
            export_onnx(RoIHeadForExport(model).eval(), (roi_example, ), roi_out,
                        ['roi_feats'], ['cls_score', 'bbox_pred'],
                        {'roi_feats': {0: ('rois', 1, 100000)}})
            report['files'].append(roi_out)
    report['export_s'] = round(time.perf_counter() - t0, 2)

    sess = ort_session(out)
    roi_sess = ort_session(report['files'][1]) if len(report['files']) > 1 else None
    report['checks'] = []
    for i, s in enumerate(shapes):
        img = make_image(s, image, seed=i)
        onnx_outs = ort_run(sess, img)
        if task == 'segmentation':
            ref = segmentor_test_step(model, img)
            diff = _max_diff(onnx_outs, [ref])
            pred_equal = float((torch.from_numpy(onnx_outs[0]).argmax(1)
                                == ref.argmax(1)).float().mean())
            report['checks'].append(dict(shape=list(s), max_abs_diff=diff,
                                         argmax_equal=pred_equal))
        else:
            with torch.no_grad():
                refs = wrapper(img)
            diff = _max_diff(onnx_outs, refs)
            roi_fn = (lambda f: ort_run(roi_sess, f)) if roi_sess is not None else None
            got = detection_postprocess(model, onnx_outs, [image_metas(s)], roi_fn)[0]
            want = detector_test_step(model, img)
            report['checks'].append(dict(shape=list(s), max_abs_diff=diff,
                                         **compare_detections(got, want)))
        report['max_abs_diff'] = max(report['max_abs_diff'], diff)
    return report
