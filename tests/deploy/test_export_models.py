"""Whole-model ONNX export of the bundled configs, checked with onnxruntime against the
PyTorch ``test.py`` path (``test_step``), with random weights saved to and loaded from a
checkpoint the way the stock tools load them (weights_only).

Every bundled segmentation config (``configs/*/*bundled*.py`` that is not a COCO/VOC detection
config) is exported, so configs added later join this test without an edit; one detector with
an attention plugin (DANet's position attention on c5 of Faster R-CNN) checks the two-graph
detector export and the post-processing's boxes.
"""
import glob
import os.path as osp
import re

import pytest
import torch

pytest.importorskip('onnxruntime')
pytest.importorskip('onnxscript')
pytest.importorskip('onnx')

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
_DET = re.compile(r'(coco|voc0712|faster-rcnn|retinanet|rtmdet|yolo|mask-rcnn)')
SEG_CONFIGS = sorted(p for p in glob.glob(osp.join(ROOT, 'configs', '*', '*bundled*.py'))
                     if not _DET.search(osp.basename(p)))
DET_CONFIG = osp.join(ROOT, 'configs', 'danet',
                      'faster-rcnn_r18-pam-c5_fpn_300iter_coco-bundled.py')
# Small, divisible by 16 (U-Net) but not by 32 (the detectors pad), and N = 6·14 = 84
# positions at output stride 8 equals no channel count or image side, so an N×N value cannot
# be mistaken for another.
SHAPE = (48, 112)
N = 84
TOL = 1e-3
# 4 B · N · 16 rows: attention over N = 84 positions runs in 6 query blocks.
SMALL_BUDGET = 4 * N * 16


@pytest.mark.parametrize('config', SEG_CONFIGS, ids=lambda p: osp.basename(p)[:-3])
def test_segmentor_onnx_parity(config, tmp_path, random_checkpoint):
    """Logits equal test.py's; attention with a memory budget (DANet, NL) is chunked in the
    graph with no N×N value. (Dynamic shapes: test_bounded_graph.py for the Scan; a whole
    model's dynamic export took 80-150 s here, so it is left to
    ``tools/export_onnx.py --dynamic-shape``, see docs/deploy.md.)"""
    from attnplug.deploy import (count_nodes, export_and_check, quadratic_values,
                                 set_attention_budget)
    ckpt = str(tmp_path / 'random.pth')
    model, task = random_checkpoint(config, ckpt)
    assert task == 'segmentation', f'{config} was taken for a segmentation config'
    bounded = bool(set_attention_budget(model, SMALL_BUDGET))
    out = str(tmp_path / 'model.onnx')
    report = export_and_check(config, ckpt, SHAPE, out,
                              memory_budget=SMALL_BUDGET if bounded else None)
    (check, ) = report['checks']
    assert check['max_abs_diff'] <= TOL, report
    assert check['argmax_equal'] > 0.999, report
    if bounded:
        assert quadratic_values(out, N) == []
        assert count_nodes(out).get('Scan', 0) >= 1


def test_detector_onnx_boxes_equal_test_step(tmp_path, random_checkpoint):
    from attnplug.deploy import export_and_check
    ckpt = str(tmp_path / 'random.pth')
    model, task = random_checkpoint(DET_CONFIG, ckpt)
    assert task == 'detection'
    # Random weights give near-uniform class scores below the 0.05 score threshold; widen
    # the classifier so that boxes survive and the comparison has something to compare.
    state = torch.load(ckpt, weights_only=True)
    state['state_dict']['roi_head.bbox_head.fc_cls.weight'] *= 60
    torch.save(state, ckpt)
    report = export_and_check(DET_CONFIG, ckpt, SHAPE, str(tmp_path / 'det.onnx'))
    assert len(report['files']) == 2  # the network and the box head
    (check, ) = report['checks']
    assert check['max_abs_diff'] <= TOL, report
    assert check['boxes_b'] > 0, f'test.py found no boxes: nothing compared ({report})'
    assert check['boxes_a'] == check['boxes_b'] and check['labels_equal'], report
    assert check['box_diff'] <= TOL and check['score_diff'] <= 1e-4, report
