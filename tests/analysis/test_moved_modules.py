"""Old import paths of what moved keep working, with a DeprecationWarning: the drawing of
attention maps (now attnplug.visualization) and, inside a checkout, the experiment modules (now
the repository's benchmarks/, which is not installed; tests/test_wheel.py checks the error an
installed package gives)."""
import importlib
import sys

import pytest


def test_attention_maps_and_overlay_aliases_are_the_visualization_modules():
    from attnplug.visualization import attention_maps, overlay
    for name, new in (('attention_maps', attention_maps), ('overlay', overlay)):
        sys.modules.pop(f'attnplug.analysis.{name}', None)  # its warning is raised on import
        with pytest.warns(DeprecationWarning, match=f'attnplug.visualization.{name}'):
            old = importlib.import_module(f'attnplug.analysis.{name}')
        assert old.__all__ == new.__all__
        assert all(getattr(old, k) is getattr(new, k) for k in new.__all__)


def test_moved_experiment_modules_resolve_to_benchmarks():
    import attnplug.analysis as analysis
    from benchmarks import leaderboard, reporting
    with pytest.warns(DeprecationWarning, match='moved to benchmarks.leaderboard'):
        from attnplug.analysis import leaderboard as old
    assert old is leaderboard
    with pytest.warns(DeprecationWarning, match='moved to benchmarks.reporting'):
        assert analysis.reporting is reporting
    with pytest.raises(AttributeError, match='no_such_module'):
        analysis.no_such_module  # noqa: B018


def test_moved_experiment_modules_import_by_their_old_dotted_name():
    from benchmarks import sweep
    sys.modules.pop('attnplug.analysis.sweep', None)
    import attnplug.analysis as analysis
    analysis.__dict__.pop('sweep', None)
    with pytest.warns(DeprecationWarning, match='moved to benchmarks.sweep'):
        old = importlib.import_module('attnplug.analysis.sweep')
    assert old is sweep and sweep.__spec__.name == 'benchmarks.sweep'
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module('attnplug.analysis.no_such_module')
