"""mmdet-based ResNet backbones with plugins: ``attnplug.DetResNet`` and
``attnplug.DetResNetV1d``.

They carry the same plugin support as :class:`attnplug.models.backbones.ResNet`
(same mixins) over mmdet 3.3.0's ResNet, because mmseg's and mmdet's ResNet
differ in two defaults that change a model silently when a config leaves them
out:

* ``norm_eval``: mmdet True (BN statistics frozen in training), mmseg False;
* ``stem_channels``: mmdet None, meaning ``base_channels``; mmseg 64.

Everything else that mmdet's ResNet accepts, mmseg's accepts too (mmseg adds
``multi_grid`` and ``contract_dilation``), with the same blocks, ``ResLayer``
logic and state-dict keys. So ``type='attnplug.ResNet'`` works in mmdet configs
that set ``norm_eval`` (the stock R-50 configs do), and
``type='attnplug.DetResNet'`` reproduces mmdet's ``ResNet`` exactly for any config.
"""
from mmdet.models.backbones.resnet import BasicBlock as MMDetBasicBlock
from mmdet.models.backbones.resnet import Bottleneck as MMDetBottleneck
from mmdet.models.backbones.resnet import ResNet as MMDetResNet

from attnplug.registry import MODELS
from .resnet_plugins import BasicBlockPluginMixin, BottleneckPluginMixin, ResNetPluginMixin

__all__ = ['DetPluginBasicBlock', 'DetPluginBottleneck', 'DetResNet', 'DetResNetV1d']


class DetPluginBasicBlock(BasicBlockPluginMixin, MMDetBasicBlock):
    """mmdet's ``BasicBlock`` with plugins ``after_conv1`` and ``after_conv2``."""


class DetPluginBottleneck(BottleneckPluginMixin, MMDetBottleneck):
    """mmdet's ``Bottleneck`` with chained plugins ``after_conv1/2/3``."""


@MODELS.register_module()
class DetResNet(ResNetPluginMixin, MMDetResNet):
    """mmdet's ResNet backbone with attention plugins in every block and after
    every stage.

    Same plugin positions, ``plugins`` format, chaining, initialisation and
    :meth:`named_plugins` as :class:`attnplug.models.backbones.ResNet`; all
    other arguments and defaults are mmdet's :class:`mmdet.models.backbones.ResNet`
    (``norm_eval=True``, ``stem_channels=None`` meaning ``base_channels``).

    Args:
        depth (int): Depth of resnet, from {18, 34, 50, 101, 152}.
        plugins (list[dict] | None): ``dict(cfg=..., position=..., stages=...)``
            entries, positions ``'after_conv1'``, ``'after_conv2'``,
            ``'after_conv3'`` (Bottleneck only) and ``'after_stage'``.
            Default: None.
        **kwargs: Every other argument of mmdet's ``ResNet``, unchanged.
    """

    plugin_blocks = {MMDetBasicBlock: DetPluginBasicBlock, MMDetBottleneck: DetPluginBottleneck}


@MODELS.register_module()
class DetResNetV1d(DetResNet):
    """mmdet's ResNetV1d (deep stem, average-pool downsampling) with plugins.
    Arguments as :class:`DetResNet`."""

    def __init__(self, **kwargs):
        super().__init__(deep_stem=True, avg_down=True, **kwargs)
