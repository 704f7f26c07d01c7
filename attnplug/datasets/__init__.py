"""Dataset adapters for mmdet, registered as ``attnplug.<Name>`` in
:data:`attnplug.registry.DATASETS` (imported lazily on the first lookup).

The core (:mod:`attnplug.layers`, :mod:`attnplug.functional`) never imports
this package.
"""
from .checked_coco import (CheckedCocoDataset, CocoAnnotationError, CocoAnnotationWarning,
                           CocoProblem, check_coco_annotations, format_problems)

__all__ = [
    'CheckedCocoDataset', 'CocoAnnotationError', 'CocoAnnotationWarning', 'CocoProblem',
    'check_coco_annotations', 'format_problems'
]
