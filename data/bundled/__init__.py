"""Small synthetic datasets in the exact layouts of Cityscapes, PASCAL VOC and COCO.

The stock OpenMMLab dataset classes (mmseg's ``CityscapesDataset`` and ``PascalVOCDataset``, mmdet's
``CocoDataset`` and ``VOCDataset``) load the output through the stock ``_base_`` dataset configs;
only the image scale has to change (see ``configs/_base_/datasets/*_bundled.py`` and data/README.md).

The content is built so that attention matters: every object in an image looks alike (the same
family of textured blobs, whatever its class), and one *sign* near the image centre decides the class
of all of them (horizontal stripes: person, vertical stripes: bicycle, checkerboard: car). A pixel of
an object can be labelled only by relating it to the sign, which is up to ~130 px away.

Determinism: everything is drawn from the raw 64-bit stream of numpy's PCG64 (numpy keeps bit-generator
streams stable across versions and platforms) and computed with integer or plain IEEE arithmetic; the
PNG and JPEG encoders are part of this package (:mod:`.encoders` says why). So the bytes depend on the
seed and the counts only, not on the machine, numpy's distribution code, zlib or libjpeg.

The package, by module:

* :mod:`.labels`: the datasets written and the label sets of the real ones;
* :mod:`.scenes`: deterministic random numbers, geometry, one rendered scene;
* :mod:`.encoders`: PNG and JPEG bytes;
* :mod:`.writers`: each dataset's files, the manifest, :func:`generate`;
* :mod:`.check`: :func:`check`, the validation of a dataset root (generated or real);
* :mod:`.cli`: the command line, run as ``python data/generate.py``.

It needs only numpy and the standard library, and is not part of the installed attnplug package:
``data/generate.py`` loads it by path, and scripts and tests load ``data/generate.py`` by path
(``importlib.util.spec_from_file_location``), then call ``generate(...)`` and ``check(...)``.
"""
from .check import check
from .cli import main
from .encoders import encode_jpeg, encode_png
from .labels import DATASET_DIRS, DATASETS
from .scenes import render_scene
from .writers import GENERATOR_VERSION, MANIFEST_NAME, generate, read_manifest, voc_colormap

__all__ = ['generate', 'check', 'main', 'read_manifest', 'render_scene', 'encode_png',
           'encode_jpeg', 'voc_colormap', 'DATASETS', 'DATASET_DIRS', 'GENERATOR_VERSION',
           'MANIFEST_NAME']
