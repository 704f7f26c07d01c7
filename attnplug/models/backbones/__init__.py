"""Backbones with plugin slots, registered as ``attnplug.<Name>``:
``ResNet``, ``ResNetV1c``, ``ResNetV1d``, ``AttentionUNet`` (mmseg-based) and
``DetResNet``, ``DetResNetV1d`` (mmdet-based, mmdet's defaults), each imported
when its framework is installed. See docs/backbone_hooks.md."""
from attnplug.frameworks import require
from .plugin_slots import known_plugin_types
from .resnet_plugins import STAGE_POSITION, PluginRecord

__all__ = ['PluginRecord', 'STAGE_POSITION', 'known_plugin_types']

if require('mmseg', 'ResNet', 'ResNetV1c', 'ResNetV1d', 'AttentionUNet'):
    from .attention_unet import AttentionUNet  # noqa: F401  (registration)
    from .resnet import ResNet, ResNetV1c, ResNetV1d
    __all__ += ['ResNet', 'ResNetV1c', 'ResNetV1d', 'AttentionUNet']

if require('mmdet', 'DetResNet', 'DetResNetV1d'):
    from .det_resnet import DetResNet, DetResNetV1d
    __all__ += ['DetResNet', 'DetResNetV1d']
