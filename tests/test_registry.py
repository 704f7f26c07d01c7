"""The attnplug registry: scope, parents, lazy locations, resolution from mmseg/mmdet scopes."""
import textwrap

import pytest


def _run_snippet(python_runner, code):
    return python_runner(['-c', textwrap.dedent(code)])


def test_registry_is_a_child_of_mmengine_root():
    from mmengine.registry import MODELS as ROOT_MODELS

    from attnplug.registry import MODELS

    assert MODELS.scope == 'attnplug'
    assert MODELS.parent is ROOT_MODELS
    assert ROOT_MODELS._children['attnplug'] is MODELS
    assert MODELS._locations == ['attnplug.layers', 'attnplug.models']


def test_locations_are_lazy(python_runner):
    out = _run_snippet(python_runner, """
        import sys
        import attnplug.registry
        print('before', 'attnplug.layers' in sys.modules, 'attnplug.models' in sys.modules)
        attnplug.registry.MODELS.get('CBAM')
        print('after', 'attnplug.layers' in sys.modules, 'attnplug.models' in sys.modules)
    """).stdout
    assert 'before False False' in out
    assert 'after True True' in out


@pytest.mark.parametrize('scope', ['mmseg', 'mmdet'])
def test_scoped_type_resolves_without_custom_imports(python_runner, scope):
    """A fresh interpreter with only mmseg/mmdet imported builds type='attnplug.X'."""
    out = _run_snippet(python_runner, f"""
        import sys
        from mmengine.registry import DefaultScope
        from {scope}.registry import MODELS
        from {scope}.utils import register_all_modules
        register_all_modules(init_default_scope=True)
        assert 'attnplug' not in sys.modules
        layer = MODELS.build(dict(type='attnplug.CBAM', in_channels=16))
        backbone = MODELS.build(dict(type='attnplug.ResNet', depth=18, base_channels=8,
                                     out_indices=(3,)))
        print(type(layer).__module__, type(backbone).__module__, DefaultScope.get_current_instance().scope_name)
    """).stdout
    assert 'attnplug.layers.cbam' in out
    assert 'attnplug.models.backbones' in out
    assert out.strip().endswith(scope)


def test_mmcv_plugin_builder_resolves_scoped_type():
    from mmcv.cnn import build_conv_layer, build_plugin_layer

    name, layer = build_plugin_layer(dict(type='attnplug.SqueezeExcitation'), in_channels=32, postfix='_1')
    assert type(layer).__module__.startswith('attnplug.layers')
    assert name.endswith('_1')
    conv = build_conv_layer(dict(type='attnplug.SKConv'), 16, 16, kernel_size=3, padding=1)
    assert type(conv).__module__.startswith('attnplug.layers')


def test_custom_imports_config(python_runner, tmp_path):
    cfg = tmp_path / 'custom_imports_cfg.py'
    cfg.write_text(textwrap.dedent("""
        default_scope = 'mmseg'
        custom_imports = dict(imports=['attnplug'], allow_failed_imports=False)
        model = dict(type='attnplug.ECA', in_channels=64)
    """))
    out = _run_snippet(python_runner, f"""
        import sys
        from mmengine.config import Config
        cfg = Config.fromfile({str(cfg)!r})
        assert 'attnplug' in sys.modules, 'custom_imports did not import attnplug'
        from mmseg.registry import MODELS
        from mmseg.utils import register_all_modules
        register_all_modules()
        print(type(MODELS.build(cfg.model)).__name__)
    """).stdout
    assert out.strip().endswith('ECA')


def test_unknown_name_lists_available_names():
    from mmseg.registry import MODELS as SEG_MODELS

    with pytest.raises(KeyError) as err:
        SEG_MODELS.build(dict(type='attnplug.NoSuchAttention', in_channels=8))
    msg = str(err.value)
    assert 'NoSuchAttention' in msg
    assert 'Available names' in msg
    for known in ('CBAM', 'SKConv', 'ResNet'):
        assert known in msg


def test_contains_does_not_raise():
    from attnplug.registry import MODELS

    assert 'CBAM' in MODELS
    assert 'NoSuchAttention' not in MODELS


# A prelude that makes one framework look uninstalled: its imports fail as for a missing
# package, and importlib.util.find_spec finds nothing.
HIDE = """
import importlib.abc, sys

class _Hide(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == {hidden!r} or name.startswith({hidden!r} + '.'):
            raise ModuleNotFoundError(f'No module named {{name!r}} (hidden by the test)', name=name)
        return None

sys.meta_path.insert(0, _Hide())
"""


@pytest.mark.parametrize('present,hidden', [('mmseg', 'mmdet'), ('mmdet', 'mmseg')])
def test_each_framework_works_without_the_other(python_runner, present, hidden):
    """``pip install attnplug[seg]`` (no mmdet) and ``attnplug[det]`` (no mmseg): a fresh
    interpreter with the other framework hidden looks up attnplug's layers and its own
    framework's adapters, never imports the hidden one, and a name that needs it says which
    extra to install."""
    own = {'mmseg': ['ResNet', 'CCHead', 'SegAttentionFPN', 'AttentionUNet'],
           'mmdet': ['DetResNet', 'AttentionFPN']}
    out = _run_snippet(python_runner, HIDE.format(hidden=hidden) + f"""
import sys
from {present}.registry import MODELS
from {present}.utils import register_all_modules
register_all_modules(init_default_scope=True)
layer = MODELS.build(dict(type='attnplug.CBAM', in_channels=8))
print('layer', type(layer).__module__)
from attnplug.registry import MODELS as ATTNPLUG
for name in {own[present]!r}:
    assert name in ATTNPLUG, name
for name in {own[hidden]!r}:
    try:
        ATTNPLUG.get(name)
    except KeyError as err:
        assert 'attnplug[' + {dict(mmseg='seg', mmdet='det')[hidden]!r} + ']' in str(err), err
    else:
        raise AssertionError(name + ' registered without its framework')
import attnplug.models, attnplug.datasets  # the whole adapter package imports
hidden = [m for m in sys.modules if m == {hidden!r} or m.startswith({hidden!r} + '.')]
print('hidden imported', hidden)
""").stdout
    assert 'layer attnplug.layers.cbam' in out
    assert 'hidden imported []' in out


def test_the_hiding_prelude_hides():
    """The prelude above must make an import of the hidden framework fail (else the test
    above proves nothing)."""
    import subprocess
    import sys
    proc = subprocess.run([sys.executable, '-c', HIDE.format(hidden='mmdet') + 'import mmdet'],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and 'hidden by the test' in proc.stderr
