"""Facts of the bundled synthetic data (``data/generate.py``, ``data/README.md``) that the
benchmarks rely on: which classes only the cue decides, and what "learned" means on it."""

__all__ = ['CUE_CLASSES', 'LEARNED_THRESHOLDS']

#: The classes of the bundled Cityscapes that only the long-range cue at the image centre
#: decides; ``cue_classes_mIoU`` is their mean IoU.
CUE_CLASSES = ('person', 'bicycle', 'car')

#: What "learned" means for a baseline, per metric: the value every seed must exceed.
#: mIoU: 15, about twice the 7.64 mIoU of the best constant prediction on the bundled Cityscapes
#: val set (every pixel *road*, 45.8% of the labelled pixels, with 6 classes present: computed
#: from the labels that data/generate.py writes); box mAP: above 0, i.e. some detection matches
#: (mmdet reports no metric at all when nothing is detected, counted as 0).
LEARNED_THRESHOLDS = {'mIoU': 15.0, 'coco/bbox_mAP': 0.0, 'pascal_voc/mAP': 0.0,
                      'coco/segm_mAP': 0.0}
