"""Deployment: ONNX export of attnplug's (and any mmseg / mmdet) models, the onnxruntime check
against the PyTorch ``test.py`` path, detector post-processing, and graph inspection (no N×N
attention in the exported graph). See ``docs/deploy.md``.

Needs ``onnx``, ``onnxruntime`` and ``onnxscript`` (``pip install attnplug[deploy]``); they are
imported only when used.
"""
from .check import (compare_detections, detector_test_step, export_and_check, make_image,
                    ort_run, ort_session, segmentor_test_step)
from .detection import detection_postprocess, image_metas
from .export import (DEFAULT_OPSET, DetectorForExport, RoIHeadForExport, SegmentorForExport,
                     export_onnx, load_model, model_task, save_random_checkpoint,
                     set_attention_budget)
from .graph import count_nodes, largest_value, quadratic_values, value_shapes

__all__ = [
    'load_model', 'model_task', 'SegmentorForExport', 'DetectorForExport', 'RoIHeadForExport',
    'export_onnx', 'set_attention_budget', 'save_random_checkpoint', 'DEFAULT_OPSET', 'detection_postprocess',
    'image_metas', 'export_and_check', 'ort_session', 'ort_run', 'make_image',
    'segmentor_test_step', 'detector_test_step', 'compare_detections', 'value_shapes',
    'quadratic_values', 'largest_value', 'count_nodes'
]
