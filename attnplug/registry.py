"""attnplug's registries.

They are children of mmengine's root registries with scope ``attnplug``, so
``type='attnplug.<Name>'`` resolves from any OpenMMLab scope (mmseg, mmdet, ...)
without ``custom_imports``: mmengine imports ``attnplug.registry`` when it meets
the ``attnplug.`` prefix, and the child registry imports its ``locations`` on its
first lookup.

Data flows one way: the core (``attnplug.functional``, ``attnplug.layers``) only
registers plugins and conv layers here; the framework adapters
(``attnplug.models``) register backbones, necks, heads and hooks, and
``attnplug.datasets`` registers dataset adapters (``type='attnplug.CheckedCocoDataset'``).

mmseg and mmdet are optional for each other: the lazy locations import only the
adapters whose framework is installed (:mod:`attnplug.frameworks`), so looking up a
layer (``type='attnplug.CBAM'``) works with either one alone, and a name whose framework
is missing fails with the pip extra to install.
"""
from mmengine.registry import DATASETS as MMENGINE_DATASETS
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import Registry

from attnplug.frameworks import EXTRA, missing_framework

__all__ = ['MODELS', 'DATASETS', 'HOOKS', 'AttnplugRegistry']


class AttnplugRegistry(Registry):
    """A :class:`mmengine.registry.Registry` whose failed lookups list the
    names it knows, instead of returning ``None`` for a later, vaguer error."""

    def get(self, key):
        obj = super().get(key)
        if obj is None:
            scope, real_key = self.split_scope_key(key)
            if scope in (None, self.scope):
                framework = missing_framework(real_key)
                if framework is not None:
                    raise KeyError(
                        f'"{real_key}" (type="attnplug.{real_key}") is built on {framework}, '
                        f'which is not installed here: pip install "attnplug[{EXTRA[framework]}]"')
                known = ', '.join(sorted(self.module_dict))
                raise KeyError(
                    f'"{real_key}" is not registered in the attnplug {self.name} registry '
                    f'(type="attnplug.{real_key}"). Available names: {known}')
        return obj

    def __contains__(self, key):
        try:
            return super().get(key) is not None
        except KeyError:
            return False


MODELS = AttnplugRegistry(
    'model',
    parent=MMENGINE_MODELS,
    scope='attnplug',
    locations=['attnplug.layers', 'attnplug.models'])


DATASETS = AttnplugRegistry(
    'dataset',
    parent=MMENGINE_DATASETS,
    scope='attnplug',
    locations=['attnplug.datasets'])

# Runner hooks (``custom_hooks=[dict(type='attnplug.AttentionMapHook', ...)]``).
HOOKS = AttnplugRegistry(
    'hook',
    parent=MMENGINE_HOOKS,
    scope='attnplug',
    locations=['attnplug.engine'])
