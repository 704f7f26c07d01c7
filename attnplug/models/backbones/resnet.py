"""ResNet backbones that take attention plugins in every block and after every
stage: ``attnplug.ResNet``, ``attnplug.ResNetV1c`` and ``attnplug.ResNetV1d``.

They extend mmseg 1.2.2's ResNet family (`Deep Residual Learning for Image
Recognition <https://arxiv.org/abs/1512.03385>`_; V1c/V1d from `Bag of Tricks
<https://arxiv.org/abs/1812.01187>`_) and fix what its plugin support lacks:

* mmseg 1.2.2's ``Bottleneck.forward_plugin`` feeds every plugin at a position
  the same input, so with several plugins only the last one has any effect.
  Here they are chained in config order, as in mmdet 3.3.0.
* mmseg's and mmdet's ``BasicBlock`` assert ``plugins is None``. Here ResNet-18/34
  blocks take plugins ``after_conv1`` and ``after_conv2``.
* Plugins could only sit inside blocks. Position ``'after_stage'`` applies a
  plugin once to a whole stage's output, where BAM (Park et al., BMVC 2018,
  https://arxiv.org/abs/1807.06514, Sec. 3) places its module.

State-dict keys are those of mmseg's (and mmdet's) ResNet, so pretrained ResNet
checkpoints load unchanged. Block-level plugin keys are mmdet's
(``layer3.0.context_block.*``, as in mmdet's GCNet checkpoints); stage-level
plugins live under ``after_stage_plugins.layer<i>.*``, which no ResNet
checkpoint uses.
"""
from mmseg.models.backbones.resnet import BasicBlock as MMSegBasicBlock
from mmseg.models.backbones.resnet import Bottleneck as MMSegBottleneck
from mmseg.models.backbones.resnet import ResNet as MMSegResNet

from attnplug.registry import MODELS
from .resnet_plugins import (STAGE_POSITION, BasicBlockPluginMixin, BottleneckPluginMixin,
                             PluginRecord, ResNetPluginMixin)

__all__ = [
    'STAGE_POSITION', 'PluginRecord', 'BasicBlockPluginMixin', 'BottleneckPluginMixin',
    'ResNetPluginMixin', 'PluginBasicBlock', 'PluginBottleneck', 'ResNet', 'ResNetV1c',
    'ResNetV1d'
]


class PluginBasicBlock(BasicBlockPluginMixin, MMSegBasicBlock):
    """mmseg's ``BasicBlock`` with plugins; see :class:`BasicBlockPluginMixin`."""


class PluginBottleneck(BottleneckPluginMixin, MMSegBottleneck):
    """mmseg's ``Bottleneck`` with chained plugins; see :class:`BottleneckPluginMixin`."""


@MODELS.register_module()
class ResNet(ResNetPluginMixin, MMSegResNet):
    """ResNet backbone with attention plugins in every block and after every stage.

    This backbone is mmseg's :class:`mmseg.models.backbones.ResNet` (`Deep
    Residual Learning for Image Recognition <https://arxiv.org/abs/1512.03385>`_)
    with the same arguments and state-dict keys, so ``open-mmlab://`` and
    ``torchvision://`` ResNet checkpoints load unchanged. It fixes two plugin
    limitations of mmseg 1.2.2: several plugins at one position are chained
    (mmseg feeds them all the same input, so only the last one counted), and
    ``BasicBlock`` (ResNet-18/34) takes plugins (mmseg and mmdet assert
    ``plugins is None``). It adds stage-level plugins (``'after_stage'``).

    It is also a drop-in for mmdet's ``ResNet`` where the config sets
    ``norm_eval`` (mmdet's base configs do); :class:`DetResNet` keeps all of
    mmdet's defaults (``norm_eval=True``, ``stem_channels=base_channels``).

    Plugin positions (``planes = base_channels * 2**i`` in stage ``i``):

    ================  ====================  ====================  ==========================
    position          Bottleneck (R-50+)    BasicBlock (R-18/34)  where
    ================  ====================  ====================  ==========================
    ``after_conv1``   ``planes``            ``planes``            after conv1-norm1-ReLU
    ``after_conv2``   ``planes``            ``planes``            after conv2-norm2(-ReLU)
    ``after_conv3``   ``planes * 4``        (not valid)           after conv3-norm3
    ``after_stage``   ``planes * 4``        ``planes``            once, after the whole stage
    ================  ====================  ====================  ==========================

    A block's last position (``after_conv3``, or ``after_conv2`` of a
    BasicBlock) is before the residual sum; ``after_conv2`` of a BasicBlock has
    no ReLU before it. Several plugins at one position are chained in config
    order. A block-level plugin is built in every block of the selected
    stages; an ``after_stage`` plugin once per selected stage, and its output
    is what the stage passes on and returns (``out_indices``). Stage-level
    plugin keys are ``after_stage_plugins.layer<i+1>.<name>.*``.

    Args:
        depth (int): Depth of resnet, from {18, 34, 50, 101, 152}.
        plugins (list[dict] | None): Plugins, each a dict with:

            - cfg (dict, required): Config of the plugin, built by
              :func:`mmcv.cnn.build_plugin_layer` with ``in_channels`` set by
              the backbone (leave it out, or give the value of the position).
              ``postfix`` (int | str) in ``cfg`` tells apart two plugins of one
              type in one block.
            - position (str, required): One of the positions above.
            - stages (tuple[bool], optional): Stages to apply the plugin to,
              ``num_stages`` entries. Default: all stages.

            Default: None.
        **kwargs: Every other argument of mmseg's ``ResNet``, unchanged:
            ``in_channels``, ``stem_channels``, ``base_channels``,
            ``num_stages``, ``strides``, ``dilations``, ``out_indices``,
            ``style``, ``deep_stem``, ``avg_down``, ``frozen_stages``,
            ``conv_cfg``, ``norm_cfg``, ``norm_eval``, ``dcn``,
            ``stage_with_dcn``, ``multi_grid``, ``contract_dilation``,
            ``with_cp``, ``zero_init_residual``, ``pretrained``, ``init_cfg``.
            A ``dcn`` config (e.g. ``dict(type='attnplug.SKConv')``) replaces
            conv2 of the Bottlenecks in the ``stage_with_dcn`` stages.

    Built plugins are listed by :meth:`named_plugins`.

    Example:
        >>> from attnplug.models.backbones import ResNet
        >>> import torch
        >>> self = ResNet(depth=50, base_channels=8, plugins=[
        ...     dict(cfg=dict(type='ContextBlock', ratio=1. / 4),
        ...          stages=(False, True, True, True), position='after_conv3'),
        ...     dict(cfg=dict(type='NonLocal2d'), stages=(False, False, False, True),
        ...          position='after_stage')])
        >>> [tuple(o.shape) for o in self(torch.rand(1, 3, 33, 47))]
        [(1, 32, 9, 12), (1, 64, 5, 6), (1, 128, 3, 3), (1, 256, 2, 2)]
    """

    plugin_blocks = {MMSegBasicBlock: PluginBasicBlock, MMSegBottleneck: PluginBottleneck}


@MODELS.register_module()
class ResNetV1c(ResNet):
    """ResNetV1c (deep 3x3 stem, `Bag of Tricks <https://arxiv.org/abs/1812.01187>`_)
    with plugins; mmseg's ``ResNetV1c`` otherwise. Arguments as :class:`ResNet`."""

    def __init__(self, **kwargs):
        super().__init__(deep_stem=True, avg_down=False, **kwargs)


@MODELS.register_module()
class ResNetV1d(ResNet):
    """ResNetV1d (deep stem and average-pool downsampling, `Bag of Tricks
    <https://arxiv.org/abs/1812.01187>`_) with plugins; mmseg's ``ResNetV1d``
    otherwise. Arguments as :class:`ResNet`."""

    def __init__(self, **kwargs):
        super().__init__(deep_stem=True, avg_down=True, **kwargs)
