"""A runner hook that draws the attention and gate maps of chosen modules during val/test.

Config::

    custom_hooks = [
        dict(type='attnplug.AttentionMapHook',
             modules=['CBAM', 'AttentionGate', 'PositionAttention'],  # default: all ('*')
             query_points=[(0.5, 0.5), (0.25, 0.6)],  # (x, y) fractions of the image
             interval=1,      # every n-th val/test batch
             max_images=4)    # per val/test run
    ]
    # PNGs go where the visualizer's backends write: LocalVisBackend ->
    # WORK_DIR/<timestamp>/vis_data/vis_image/attention_<image>_<iter>.png;
    # add dict(type='TensorboardVisBackend') to visualizer.vis_backends for TensorBoard.
    visualizer = dict(vis_backends=[dict(type='LocalVisBackend'),
                                    dict(type='TensorboardVisBackend')])

For a drawn batch the hook puts forward hooks on the matched modules and on the model's data
preprocessor (:class:`attnplug.visualization.attention_maps.AttentionRecorder`, entered in
``before_*_iter`` and closed in ``after_*_iter`` through an ``ExitStack``, or at the end of the
loop if the step failed), lets the runner's ``test_step`` run, removes the hooks, asks each
module for its maps of the input it saw (the layers' own ``attention_maps``) and writes one
grid per image through ``runner.visualizer.add_image``: the input image (with the
query points marked) and one colour-mapped overlay per map, titled with the module's name and
the map's value range. Batches that are not drawn run without any hook.
"""
from contextlib import ExitStack
from typing import List, Optional, Sequence, Tuple

from mmengine.hooks import Hook
from mmengine.logging import print_log

from ...registry import HOOKS
from ...visualization.attention_maps import ALL_MODULES, AttentionRecorder
from ...visualization.overlay import compose_grid, draw_query, overlay

__all__ = ['AttentionMapHook', 'render_attention_grid']


def _valid_fraction(image_hw: Tuple[int, int], input_hw: Optional[Tuple[int, int]]):
    """The part of the (padded) model input an image covers, as (fy, fx)."""
    if not input_hw:
        return 1.0, 1.0
    return (min(1.0, image_hw[0] / input_hw[0]), min(1.0, image_hw[1] / input_hw[1]))


def render_attention_grid(recorder: AttentionRecorder, index: int, image,
                          query_points: Sequence[Tuple[float, float]], alpha: float = 0.5,
                          cmap: str = 'jet', ncols: int = 4):
    """One image's grid: the image with its query points, then one overlay per map.

    Args:
        recorder (AttentionRecorder): After the forward.
        index (int): The image's index in the batch.
        image (ndarray): (H, W, 3) RGB uint8, the image the model saw (unpadded).
        query_points: (x, y) fractions of the image.

    Returns:
        ndarray | None: RGB uint8, or None when no module of the recorder ran.
    """
    valid = _valid_fraction(image.shape[:2], recorder.input_shape)
    # Query points given on the image; the maps live on the padded input's grid.
    grid_points = [(x * valid[1], y * valid[0]) for x, y in query_points]
    maps = recorder.maps(grid_points, index=index)
    if not maps:
        return None
    marked = image
    for p in query_points:
        marked = draw_query(marked, p)
    panels: List = [(['input', f'{image.shape[1]}x{image.shape[0]}'], marked)]
    for amap in maps:
        blended, lo, hi = overlay(image, amap.maps[0], alpha, cmap, valid)
        if amap.query is not None:
            q = (amap.query[0] / valid[1], amap.query[1] / valid[0])
            blended = draw_query(blended, q)
        h, w = amap.maps.shape[-2:]
        panels.append(([f'{amap.module or amap.type} ({amap.type})',
                        f'{amap.label} {h}x{w} [{lo:.3g}, {hi:.3g}]'], blended))
    return compose_grid(panels, ncols=ncols)


@HOOKS.register_module()
class AttentionMapHook(Hook):
    """Draw attention / gate maps of chosen modules over the val/test images.

    Args:
        modules (sequence[str]): Class names or (shell-style) module-name patterns, see
            :func:`attnplug.visualization.attention_maps.find_modules`. Default: ``('*', )``, every
            module that implements ``attention_maps``.
        query_points (sequence[tuple[float, float]]): (x, y) fractions of the image for the
            position-dependent attention (position, non-local, multi-head, criss-cross).
            Default: ((0.5, 0.5), ), the image centre.
        interval (int): Draw every ``interval``-th batch of a val/test run. Default: 1.
        max_images (int): Images drawn per val/test run. Default: 4.
        alpha (float): Weight of the colour map over the image. Default: 0.5.
        cmap (str): matplotlib colour map. Default: 'jet'.
        ncols (int): Panels per row of the grid. Default: 4.
        phases (sequence[str]): 'val', 'test' or both. Default: ('val', 'test').
        name_prefix (str): Prefix of the image names. Default: 'attention'.
    """

    priority = 'LOW'

    def __init__(self,
                 modules: Sequence[str] = ALL_MODULES,
                 query_points: Sequence[Sequence[float]] = ((0.5, 0.5), ),
                 interval: int = 1,
                 max_images: int = 4,
                 alpha: float = 0.5,
                 cmap: str = 'jet',
                 ncols: int = 4,
                 phases: Sequence[str] = ('val', 'test'),
                 name_prefix: str = 'attention'):
        if interval < 1:
            raise ValueError(f'AttentionMapHook: interval must be >= 1, got {interval}')
        bad = [p for p in phases if p not in ('val', 'test')]
        if bad:
            raise ValueError(f"AttentionMapHook: phases must be 'val' and/or 'test', got {bad}")
        for p in query_points:
            if len(p) != 2 or not all(0.0 <= float(v) <= 1.0 for v in p):
                raise ValueError(f'AttentionMapHook: query point {p} must be (x, y) '
                                 'fractions in [0, 1]')
        self.modules = tuple(modules)
        self.query_points = [(float(x), float(y)) for x, y in query_points]
        self.interval = interval
        self.max_images = max_images
        self.alpha = alpha
        self.cmap = cmap
        self.ncols = ncols
        self.phases = tuple(phases)
        self.name_prefix = name_prefix
        self._recorder: Optional[AttentionRecorder] = None
        self._hooks: Optional[ExitStack] = None  # the recorder's forward hooks, while open
        self._drawn = 0
        self._warned = set()

    # ------------------------------------------------------------------ run bookkeeping
    def _start(self, runner) -> None:
        self._drawn = 0

    def _close(self) -> None:
        """Remove the recorder's forward hooks (idempotent)."""
        hooks, self._hooks = self._hooks, None
        if hooks is not None:
            hooks.close()

    def before_val_epoch(self, runner) -> None:
        self._start(runner)

    def before_test_epoch(self, runner) -> None:
        self._start(runner)

    def after_val_epoch(self, runner, metrics=None) -> None:
        self._close()  # a step that raised never reached after_val_iter
        self._recorder = None

    def after_test_epoch(self, runner, metrics=None) -> None:
        self._close()
        self._recorder = None

    def _warn_once(self, key: str, msg: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            print_log(f'AttentionMapHook: {msg}', logger='current', level=30)

    def _before(self, runner, batch_idx: int, phase: str) -> None:
        if (phase not in self.phases or self._drawn >= self.max_images
                or batch_idx % self.interval):
            return
        recorder = AttentionRecorder(runner.model, self.modules)
        if not recorder.modules:
            self._warn_once('none', f'no module of the model matches {list(self.modules)} '
                            'and implements attention_maps(); nothing is drawn')
            return
        self._close()
        self._hooks = ExitStack()
        self._recorder = self._hooks.enter_context(recorder)

    def _after(self, runner, batch_idx: int, data_batch, outputs) -> None:
        recorder, self._recorder = self._recorder, None
        self._close()
        if recorder is None:
            return
        for name, n in recorder.calls.items():
            if n > 1:
                self._warn_once(f'calls:{name}', f'{name} ran {n} times for one batch '
                                '(slide inference or TTA?); only its first call is drawn')
        images = recorder.images()
        if not images:
            self._warn_once('images', 'the model has no data preprocessor input to draw on')
            return
        for i, image in enumerate(images):
            if self._drawn >= self.max_images:
                break
            grid = render_attention_grid(recorder, i, image, self.query_points, self.alpha,
                                         self.cmap, self.ncols)
            if grid is None:
                return
            stem = self._image_name(outputs, data_batch, i, batch_idx)
            runner.visualizer.add_image(f'{self.name_prefix}_{stem}', grid, step=runner.iter)
            self._drawn += 1

    @staticmethod
    def _image_name(outputs, data_batch, i: int, batch_idx: int) -> str:
        import os.path as osp

        for samples in (outputs, (data_batch or {}).get('data_samples')
                        if isinstance(data_batch, dict) else None):
            try:
                path = samples[i].metainfo.get('img_path')
            except (AttributeError, IndexError, KeyError, TypeError):
                path = None
            if path:
                return osp.splitext(osp.basename(path))[0]
        return f'batch{batch_idx}_{i}'

    # --------------------------------------------------------------------- runner calls
    def before_val_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        self._before(runner, batch_idx, 'val')

    def after_val_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        self._after(runner, batch_idx, data_batch, outputs)

    def before_test_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        self._before(runner, batch_idx, 'test')

    def after_test_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        self._after(runner, batch_idx, data_batch, outputs)
