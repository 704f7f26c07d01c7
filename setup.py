"""attnplug: visual attention modules for OpenMMLab (MMSegmentation 1.x, MMDetection 3.x)."""
import re
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
VERSION = re.search(r"__version__ = '([^']+)'", (HERE / 'attnplug' / 'version.py').read_text()).group(1)

# torch is deliberately not listed: attnplug uses the torch the user has (CPU or CUDA build);
# tools/setup_env.sh installs torch==2.13.0 only where none is present.
# The core (layers, functional) and the framework-free adapters need only these:
INSTALL_REQUIRES = [
    'mmengine==0.10.7',
    'mmcv==2.1.0',  # full build with ops; mmseg 1.2.2 / mmdet 3.3.0 reject mmcv>=2.2
    'setuptools<82',  # mmengine 0.10.7 imports pkg_resources when resolving mmseg::/mmdet:: bases
    'numpy',
    'opencv-python',
    'matplotlib',
    'tqdm',
    'Pillow',
]

# mmseg and mmdet are optional for each other: attnplug registers only the adapters whose
# framework is installed (attnplug/frameworks.py).
SEG_REQUIRES = [
    'mmsegmentation==1.2.2',
    'ftfy',  # imported by mmseg.models, not declared by mmsegmentation
    'regex',  # likewise
    'prettytable',
    'scipy',
]
DET_REQUIRES = [
    'mmdet==3.3.0',
    'pycocotools',
    'terminaltables',
    'scipy',
    'shapely',
]

EXTRAS = {
    'seg': SEG_REQUIRES,
    'det': DET_REQUIRES,
    'all': SEG_REQUIRES + DET_REQUIRES,
    'tests': ['pytest', 'onnx', 'onnxruntime', 'onnxscript', 'tensorboard'] + SEG_REQUIRES +
    DET_REQUIRES,
    'tensorboard': ['tensorboard'],
    # mmseg's ConvNeXt configs build mmpretrain.ConvNeXt. Its own requirements (einops, mat4py,
    # modelindex, rich, ...) pull no torch/mmcv/mmengine, but `import mmpretrain.models` needs a
    # torchvision that loads with the installed torch: not the case for a CPU torch 2.13, whose
    # only torchvision wheels are CUDA builds (docs/any_model.md).
    'pretrain': ['mmpretrain==1.2.0'],
    # tools/export_onnx.py, attnplug.deploy: torch.onnx.export(dynamo=True) needs onnxscript
    'deploy': ['onnx', 'onnxruntime', 'onnxscript'],
}

setup(
    name='attnplug',
    version=VERSION,
    description='Visual attention modules (SE, ECA, CBAM, BAM, SK, non-local, DANet, CCNet, '
    'attention gates, ...) as OpenMMLab plugins, backbones, necks and decode heads',
    long_description=(HERE / 'README.md').read_text() if (HERE / 'README.md').exists() else '',
    long_description_content_type='text/markdown',
    license='Apache-2.0',
    python_requires='>=3.9',
    packages=find_packages(include=['attnplug', 'attnplug.*']),
    install_requires=INSTALL_REQUIRES,
    extras_require=EXTRAS,
    zip_safe=False,
)
