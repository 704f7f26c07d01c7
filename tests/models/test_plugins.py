"""The plugin core (attnplug/models/plugins.py) behind the four plugin hosts.

The same bad entry, injected into each host (the ResNet backbone, ``WithPlugins``,
``AttentionFPN``, ``AttnFCNHead``), must fail with the same error type and a message of the
same shape: ``<host> ...: <config key> ...`` and what was expected. The same shape-changing
plugin must fail the same way at run time, and the same zero-initialised plugin must keep its
zero start through every host's ``init_weights()``.
"""
import re

import pytest
import torch
import torch.nn as nn
from mmengine.model import BaseModule

from attnplug.errors import ConfigError, ConfigKeyError, ConfigTypeError
from attnplug.models import plugins as core

pytest.importorskip('mmseg.models')
pytest.importorskip('mmdet.models')

from attnplug.models.backbones import ResNet  # noqa: E402
from attnplug.models.decode_heads import AttnFCNHead  # noqa: E402
from attnplug.models.necks import AttentionFPN  # noqa: E402
from attnplug.models.with_plugins import WithPlugins  # noqa: E402

C = 4  # every host below feeds its plugins a C-channel feature


class _Tiny(BaseModule):
    """A model with no plugin slot: a 3 -> C conv (Kaiming-initialised, as a backbone)."""

    def __init__(self):
        super().__init__(init_cfg=dict(type='Kaiming', layer='Conv2d'))
        self.conv = nn.Conv2d(3, C, 3, padding=1)

    def forward(self, x):
        return self.conv(x)


def _resnet(cfg, position='after_conv1'):
    return ResNet(depth=18, base_channels=C, plugins=[dict(cfg=cfg, position=position)])


def _with_plugins(cfg, position='conv'):
    return WithPlugins(wraps=_Tiny, plugins=[dict(cfg=cfg, after=position)])


def _fpn(cfg, position='output'):
    return AttentionFPN([8, 16], C, num_outs=2, attn_cfg=cfg, attn_position=position)


def _head(cfg):
    return AttnFCNHead(in_channels=8, channels=C, num_classes=3, attn_cfg=cfg)


#: host -> (builder, how its messages start, the config key of the plugin cfg, of the position)
HOSTS = {
    'ResNet': (_resnet, 'ResNet', "plugins[0]['cfg']", "plugins[0]['position']"),
    'WithPlugins': (_with_plugins, 'attnplug.WithPlugins', "plugins[0]['cfg']", 'after'),
    'AttentionFPN': (_fpn, 'AttentionFPN', 'attn_cfg', 'attn_position'),
    'AttnFCNHead': (_head, 'AttnFCNHead', 'attn_cfg', None),
}


def _message(host, cfg, error, **kwargs):
    build, start, _, _ = HOSTS[host]
    with pytest.raises(error) as info:
        build(cfg, **kwargs)
    assert type(info.value).__module__ == 'attnplug.errors', type(info.value)
    message = str(info.value)
    assert message.startswith(start), (host, message)
    return message


@pytest.mark.parametrize('host', HOSTS)
def test_unknown_type(host):
    message = _message(host, dict(type='NoSuchAttention'), ConfigKeyError)
    key = HOSTS[host][2]
    assert re.search(rf": {re.escape(key)}: plugin type 'NoSuchAttention' is not registered "
                     r"\(looked up in the '\w+' registry and its parents\)\. Known plugin "
                     r'types: ', message), message
    known = message.split('Known plugin types: ')[1].split(', ')
    assert 'ContextBlock' in known and ('CBAM' in known or 'attnplug.CBAM' in known), known


@pytest.mark.parametrize('host', HOSTS)
def test_cfg_without_a_type(host):
    message = _message(host, dict(reduction=2), ConfigTypeError)
    key = HOSTS[host][2]
    assert f": {key} must be a dict with a 'type'" in message, message
    assert 'got {' in message and "'reduction': 2" in message, message


@pytest.mark.parametrize('host', HOSTS)
def test_wrong_channel_count(host):
    message = _message(host, dict(type='attnplug.ECA', in_channels=7), ConfigError)
    key = HOSTS[host][2]
    assert re.search(rf': {re.escape(key)} \(attnplug.ECA\) has in_channels=7, but the feature '
                     rf'at .+ has {C} channels \(expected {C}, given 7\)\. Leave in_channels '
                     rf'out of {re.escape(key)} \(it is filled in\) or set it to {C}\.',
                     message), message


@pytest.mark.parametrize('host', [h for h, spec in HOSTS.items() if spec[3] is not None])
def test_bad_position(host):
    """The head has one place for its attention, so no position to get wrong."""
    bad = 'no_such_place'
    message = _message(host, dict(type='attnplug.ECA'), ConfigError, position=bad)
    key = HOSTS[host][3]
    assert f'{key}={bad!r}' in message, message
    assert re.search(r'(Valid positions|Candidate paths): \S', message), message


class _Shrink(nn.Module):
    """Returns one column less: not a plugin."""

    def __init__(self, in_channels):
        super().__init__()

    def forward(self, x):
        return x[..., :-1]


@pytest.mark.parametrize('host', HOSTS)
def test_a_plugin_that_changes_the_shape_fails_at_run_time(host):
    model = HOSTS[host][0](dict(type=_Shrink))
    if host == 'AttentionFPN':
        args = ([torch.rand(1, 8, 14, 18), torch.rand(1, 16, 7, 9)], )
    elif host == 'AttnFCNHead':
        args = ([torch.rand(1, 8, 7, 9)], )
    else:
        args = (torch.rand(1, 3, 29, 35), )
    with pytest.raises(RuntimeError) as info:
        model(*args)
    assert re.search(r"plugin '[\w.]+' \[_Shrink\] at .+ returned shape \(1, \d+, \d+, \d+\) for "
                     r"an input of shape \(1, \d+, \d+, \d+\); a plugin must return a tensor "
                     r"of its input's shape\.", str(info.value)), str(info.value)


class _ZeroResidual(nn.Module):
    """A residual plugin with only ``reset_parameters()`` (as mmcv's ContextBlock): a zero conv
    after reset, which a host's Kaiming/Xavier init would overwrite."""

    _abbr_ = 'zero_residual'

    def __init__(self, in_channels):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, in_channels, 1)
        self.reset_parameters()

    def reset_parameters(self):
        nn.init.zeros_(self.conv.weight)
        nn.init.zeros_(self.conv.bias)

    def forward(self, x):
        return x + self.conv(x)


@pytest.mark.parametrize('host', HOSTS)
def test_every_host_keeps_its_plugins_own_init(host):
    model = HOSTS[host][0](dict(type=_ZeroResidual))
    plugins = [m for m in model.modules() if isinstance(m, _ZeroResidual)]
    assert plugins
    for plugin in plugins:  # as a host's init would leave it without the repair
        nn.init.normal_(plugin.conv.weight)
    model.init_weights()
    for plugin in plugins:
        assert not plugin.conv.weight.any(), host


def test_a_plugin_that_raises_gets_a_note_with_its_location():
    class Refusing(nn.Module):
        def __init__(self, in_channels):
            super().__init__()

        def forward(self, x):
            raise ValueError('refused')

    with pytest.raises(ValueError, match='refused') as info:
        core.run_chain([('refusing', Refusing(3))], torch.zeros(1, 3, 2, 2), 'the test site')
    assert core.error_text(info.value).endswith(
        "(raised by plugin 'refusing' [Refusing] at the test site)")


def test_old_import_path_is_the_core():
    from attnplug.models.backbones import plugin_slots
    for name in plugin_slots.__all__:
        assert getattr(plugin_slots, name) is getattr(core, name), name
