"""What a user imports to measure a model (docs/analysis.md):

* :mod:`.flops`: FLOP counting that sees fused attention (mmengine handles);
* :mod:`.profiling`: latency and peak memory (CPU and CUDA) of a call;
* :mod:`.build`: building any mmseg / mmdet config offline, for the tools.

Drawing attention maps moved to :mod:`attnplug.visualization` (``attention_maps`` and
``overlay`` here are deprecated aliases). The experiments -- learning runs, leaderboards,
sweeps, the head/module/detection-plugin benchmarks, reports and doc blocks -- live in the
repository's top-level ``benchmarks/`` package, which is not installed: they need a checkout
(configs, data, committed results). ``from attnplug.analysis import leaderboard`` (and the other
moved modules) and ``import attnplug.analysis.leaderboard`` still work inside a checkout, with a
DeprecationWarning.

Nothing is imported here, so that each tool pulls in only what it needs.
"""
import importlib
import importlib.abc
import importlib.util
import sys
import warnings

#: Modules that moved out of the package: old name -> module in the repository's benchmarks/.
MOVED_TO_BENCHMARKS = {
    'reporting': 'benchmarks.reporting',
    'doc_blocks': 'benchmarks.doc_blocks',
    'learning': 'benchmarks.learning',
    'leaderboard': 'benchmarks.leaderboard',
    'sweep': 'benchmarks.sweep',
    'cue': 'benchmarks.cue',
    'head_benchmark': 'benchmarks.head_benchmark',
    'module_benchmark': 'benchmarks.module_benchmark',
    'det_plugin_cost': 'benchmarks.det_plugin_cost',
}


def _moved(name, stacklevel=3):
    target = MOVED_TO_BENCHMARKS[name]
    warnings.warn(f'attnplug.analysis.{name} moved to {target} (the repository\'s benchmarks/, '
                  'not installed)', DeprecationWarning, stacklevel=stacklevel)
    try:
        return importlib.import_module(target)
    except ImportError as e:
        raise ImportError(f'attnplug.analysis.{name} moved to {target}, which is part of a '
                          'checkout of the attnplug repository (not of the installed package); '
                          'put the repository root on sys.path') from e


def __getattr__(name):
    if name not in MOVED_TO_BENCHMARKS:
        raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
    return _moved(name)


class _MovedModuleFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """``import attnplug.analysis.<moved>``: the module of benchmarks/ itself (as
    ``from attnplug.analysis import <moved>`` gives), its own ``__spec__`` left as it was."""

    def find_spec(self, fullname, path=None, target=None):
        package, _, name = fullname.rpartition('.')
        if package != __name__ or name not in MOVED_TO_BENCHMARKS:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec):
        module = _moved(spec.name.rpartition('.')[2], stacklevel=8)
        self._specs = getattr(self, '_specs', {})
        self._specs[spec.name] = module.__spec__
        return module

    def exec_module(self, module):  # the import system set __spec__ to the alias's: undo
        module.__spec__ = self._specs.pop(module.__spec__.name)


if not any(isinstance(f, _MovedModuleFinder) for f in sys.meta_path):
    sys.meta_path.append(_MovedModuleFinder())
