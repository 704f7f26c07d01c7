"""Backbones with plugin slots, registered as ``attnplug.<Name>``:
``ResNet``, ``ResNetV1c``, ``ResNetV1d`` (mmseg-based) and ``DetResNet``,
``DetResNetV1d`` (mmdet-based, mmdet's defaults). See docs/backbone_hooks.md."""
from .attention_unet import AttentionUNet  # noqa: F401  (registration)
from .det_resnet import DetResNet, DetResNetV1d
from .plugin_slots import known_plugin_types
from .resnet import STAGE_POSITION, PluginRecord, ResNet, ResNetV1c, ResNetV1d

__all__ = [
    'ResNet', 'ResNetV1c', 'ResNetV1d', 'DetResNet', 'DetResNetV1d', 'PluginRecord',
    'STAGE_POSITION', 'known_plugin_types'
]
