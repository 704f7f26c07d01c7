"""Dataset adapters for mmdet, registered as ``attnplug.<Name>`` in
:data:`attnplug.registry.DATASETS` (imported lazily on the first lookup, and only
where mmdet is installed).

The core (:mod:`attnplug.layers`, :mod:`attnplug.functional`) never imports
this package.
"""
from attnplug.frameworks import require

__all__ = []

if require('mmdet', 'CheckedCocoDataset'):
    from .checked_coco import (CheckedCocoDataset, CocoAnnotationError, CocoAnnotationWarning,
                               CocoProblem, check_coco_annotations, format_problems)
    __all__ += [
        'CheckedCocoDataset', 'CocoAnnotationError', 'CocoAnnotationWarning', 'CocoProblem',
        'check_coco_annotations', 'format_problems'
    ]
