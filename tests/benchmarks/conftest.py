"""The tiny segmentor of tests/visualization/conftest.py (config, data and an mmengine-style
checkpoint), which the leaderboard tests measure and collect as a work dir."""
import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location(
    'visualization_conftest', Path(__file__).parents[1] / 'visualization' / 'conftest.py')
_shared = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_shared)

tiny_data = _shared.tiny_data
tiny_config = _shared.tiny_config
tiny_checkpoint = _shared.tiny_checkpoint
