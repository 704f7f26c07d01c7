"""Draw attention maps over the image a model saw: colour-mapped overlays and panel grids.

Plain numpy + OpenCV (no pyplot), so the hook can draw inside a training run without a
display or a matplotlib backend; matplotlib is used only for its colour maps.

A map covers the model's (padded) input, the image its top-left ``valid`` part (mmseg and
mmdet pad at the bottom and right): :func:`overlay` crops the map to that part before
resizing it onto the image.
"""
from typing import List, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch

__all__ = ['normalize', 'colorize', 'overlay', 'draw_query', 'compose_grid', 'grid_boxes',
           'map_to_image']


def normalize(amap: np.ndarray) -> Tuple[np.ndarray, float, float]:
    """Min-max scale to [0, 1]. Returns ``(scaled, min, max)``; a constant map gives 0.5
    (it carries no spatial information, and a flat mid colour shows that)."""
    amap = np.asarray(amap, dtype=np.float64)
    lo, hi = float(np.nanmin(amap)), float(np.nanmax(amap))
    if not np.isfinite(lo) or not np.isfinite(hi) or hi - lo <= 1e-12 * max(abs(hi), 1.0):
        return np.full(amap.shape, 0.5), lo, hi
    return (amap - lo) / (hi - lo), lo, hi


def colorize(scaled: np.ndarray, cmap: str = 'jet') -> np.ndarray:
    """[0, 1] map -> RGB uint8 with a matplotlib colour map."""
    from matplotlib import colormaps

    rgba = colormaps[cmap](np.clip(scaled, 0.0, 1.0))
    return (rgba[..., :3] * 255).round().astype(np.uint8)


def map_to_image(amap, size: Tuple[int, int],
                 valid: Tuple[float, float] = (1.0, 1.0)) -> np.ndarray:
    """Crop a (h, w) map to its ``valid = (fy, fx)`` top-left part and resize it
    (bilinear) to ``size = (H, W)``."""
    if torch.is_tensor(amap):
        amap = amap.detach().float().cpu().numpy()
    amap = np.asarray(amap, dtype=np.float32)
    h, w = amap.shape
    vh = max(1, min(h, int(np.ceil(valid[0] * h - 1e-6))))
    vw = max(1, min(w, int(np.ceil(valid[1] * w - 1e-6))))
    amap = amap[:vh, :vw]
    return cv2.resize(amap, (int(size[1]), int(size[0])), interpolation=cv2.INTER_LINEAR)


def overlay(image: np.ndarray, amap, alpha: float = 0.5, cmap: str = 'jet',
            valid: Tuple[float, float] = (1.0, 1.0)) -> Tuple[np.ndarray, float, float]:
    """Blend a colour-mapped attention map over an RGB uint8 image.

    Args:
        image (ndarray): (H, W, 3) RGB uint8.
        amap (ndarray | Tensor): (h, w) map on the model's input grid.
        alpha (float): Weight of the colours. Default: 0.5.
        cmap (str): matplotlib colour map. Default: 'jet'.
        valid (tuple[float, float]): The part of the map the image covers, (fy, fx).

    Returns:
        tuple: (blended RGB uint8 image, map min, map max) -- the range before scaling.
    """
    resized = map_to_image(amap, image.shape[:2], valid)
    scaled, lo, hi = normalize(resized)
    colours = colorize(scaled, cmap).astype(np.float32)
    out = (1 - alpha) * image.astype(np.float32) + alpha * colours
    return out.round().clip(0, 255).astype(np.uint8), lo, hi


def draw_query(image: np.ndarray, point: Sequence[float], size: Optional[int] = None
               ) -> np.ndarray:
    """Mark a query point ((x, y) fractions of the image) with a white cross on black."""
    h, w = image.shape[:2]
    size = size or max(7, min(h, w) // 12)
    centre = (int(round(point[0] * (w - 1))), int(round(point[1] * (h - 1))))
    out = np.ascontiguousarray(image.copy())
    cv2.drawMarker(out, centre, (0, 0, 0), cv2.MARKER_CROSS, size + 2, 4)
    cv2.drawMarker(out, centre, (255, 255, 255), cv2.MARKER_CROSS, size, 2)
    return out


def _fit_text(text: str, width: int, scale: float) -> str:
    (tw, _), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    if tw <= width:
        return text
    while len(text) > 4:  # keep the end: the most specific part of a module name
        text = text[1:]
        (tw, _), _ = cv2.getTextSize('..' + text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        if tw <= width:
            break
    return '..' + text


def _line_height(font_scale: float) -> int:
    return int(round(22 * font_scale / 0.38 * 0.75)) + 4


def grid_boxes(panel_hw: Tuple[int, int], num_panels: int, ncols: int = 4,
               title_lines: int = 2, pad: int = 4, font_scale: float = 0.38
               ) -> Tuple[Tuple[int, int], List[Tuple[int, int, int, int]]]:
    """The layout of :func:`compose_grid`: the canvas size ``(H, W)`` and each panel's image
    box ``(y0, x0, y1, x1)``, for ``num_panels`` panels of ``panel_hw`` with ``title_lines``
    title lines (the most of any panel)."""
    ph, pw = panel_hw
    strip = title_lines * _line_height(font_scale) + 4
    ncols = max(1, min(ncols, num_panels))
    nrows = (num_panels + ncols - 1) // ncols
    cell_h, cell_w = ph + strip + pad, pw + pad
    boxes = []
    for i in range(num_panels):
        r, c = divmod(i, ncols)
        y0, x0 = pad + r * cell_h + strip, pad + c * cell_w
        boxes.append((y0, x0, y0 + ph, x0 + pw))
    return (nrows * cell_h + pad, ncols * cell_w + pad), boxes


def compose_grid(panels: List[Tuple[Sequence[str], np.ndarray]], ncols: int = 4,
                 pad: int = 4, font_scale: float = 0.38) -> np.ndarray:
    """Lay out ``(title lines, RGB image)`` panels in a grid with a title strip above each
    (the layout of :func:`grid_boxes`).

    Panels are resized to the first panel's size. Returns one RGB uint8 image.
    """
    if not panels:
        raise ValueError('compose_grid: no panels')
    ph, pw = panels[0][1].shape[:2]
    lines = max(len(t) for t, _ in panels)
    line_h = _line_height(font_scale)
    (height, width), boxes = grid_boxes((ph, pw), len(panels), ncols, lines, pad, font_scale)
    canvas = np.full((height, width, 3), 255, np.uint8)
    strip = lines * line_h + 4
    for (title, img), (y0, x0, y1, x1) in zip(panels, boxes):
        if img.shape[:2] != (ph, pw):
            img = cv2.resize(img, (pw, ph), interpolation=cv2.INTER_LINEAR)
        for j, line in enumerate(title):
            cv2.putText(canvas, _fit_text(line, pw, font_scale),
                        (x0, y0 - strip + (j + 1) * line_h - 3), cv2.FONT_HERSHEY_SIMPLEX,
                        font_scale, (0, 0, 0), 1, cv2.LINE_AA)
        canvas[y0:y1, x0:x1] = img
    return canvas
