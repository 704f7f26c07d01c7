"""Point-wise spatial attention (PSANet) in pure PyTorch: mmcv's ``PSAMask`` without the op.

"PSANet: Point-wise Spatial Attention Network for Scene Parsing", Zhao, Zhang, Liu, Shi,
Loy, Lin and Jia, ECCV 2018 (official code: https://github.com/hszhao/semseg, ``lib/psa``).
Each position ``p`` predicts an *over-complete* map of ``K = mask_h × mask_w`` logits, one per
offset ``d`` of a window centred on it; position ``p + d`` of the feature map receives logit
``m[d, p]`` (Sec. 3.2, Eq. 5-7). mmcv's ``PSAMask`` op (mmcv/ops/psa_mask.py, CPU kernel
mmcv/ops/csrc/pytorch/cpu/psamask.cpp) scatters these windows into an N×N map (N = H·W),
zero outside the window:

* ``'collect'``: ``Y[p', p] = m[k(p' - p), p]`` -- position ``p`` collects from ``p'``;
* ``'distribute'``: ``Y[p, p'] = m[k(p' - p), p]`` -- ``p`` distributes to ``p'``
  (the transpose of the collect map);

with ``k(dh, dw) = (dh + (mask_h - 1) // 2) · mask_w + (dw + (mask_w - 1) // 2)`` where both
terms lie inside the mask, and no entry (a zero) elsewhere. mmseg's ``PSAHead`` then takes a
softmax of ``Y`` over its first axis (the source positions, zeros included) and computes
``out = x · Y`` as an (C × N) @ (N × N) product, scaled by ``1 / normalization_factor``.

How the map is gathered here: the window channel ``k(p' - p)`` of a block of pairs is
computed from the rows and columns of the positions (``arange`` broadcast over the grid, so
ONNX sees ``Range``/``Expand``/``Sub``/``Where`` nodes and a dynamic H×W exports), one ``torch.gather`` along the channel axis of ``m`` (B, K, N) reads
``Y``'s block, and the pairs outside the window are set to 0 (``masked_fill``), the value the
op leaves there. No custom op.

Memory: the softmax and the product run over blocks of output positions (``block_size``
columns, by default as many as fit ``memory_budget`` bytes of fp32 logits plus their int64
index), so the N×N map that mmseg's head builds (twice in ``'bi-direction'`` mode, and again
for each softmax) exists here only one block at a time; in training each block is
recomputed in the backward pass. What is *not* bounded is the over-complete map itself: the
head's 1×1 conv predicts it, (B, K, H, W) = K·N values, and mmseg's configs choose the mask
to cover the whole (unshrunk) feature map (``mask_size=(97, 97)`` for a 97×97 map), so
``K ≈ 4N`` after the default 2× shrink and the conv's output alone is about 4·N² values.
That is the design of PSANet (every position predicts a weight for every other position),
not an artefact of the op: no implementation of the same parameters avoids it. In
``compact`` mode the conv predicts the N×N map directly (``K = N``).
"""
from typing import Optional

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from .bounded_attention import DEFAULT_MEMORY_BUDGET, _tracing

__all__ = ['grid_positions', 'psa_window_index', 'point_wise_spatial_attention', 'PSA_KINDS']

#: How the attention map is read from the predicted logits:
#: 'collect' / 'distribute': the over-complete map of ``PSAMask``;
#: 'compact': the map given directly, ``Y[i, j] = m[i, j]`` (mmseg's compact distribute);
#: 'compact_transposed': ``Y[i, j] = m[j, i]`` (mmseg's compact collect).
PSA_KINDS = ('collect', 'distribute', 'compact', 'compact_transposed')


def grid_positions(h: int, w: int, device=None):
    """Row and column of each flat position of an ``h × w`` map, two (h·w, ) int64 tensors
    (by broadcasting, so a dynamic-shape export needs no division by a symbolic width)."""
    rows = torch.arange(h, device=device).unsqueeze(1).expand(h, w).reshape(-1)
    cols = torch.arange(w, device=device).unsqueeze(0).expand(h, w).reshape(-1)
    return rows, cols


def psa_window_index(dst, src, mask_size):
    """The ``PSAMask`` channel ``k(dst - src)`` of each pair and whether the pair lies in the
    window, both (len(dst), len(src)); the channel is 0 outside the window.

    Args:
        dst (tuple[Tensor, Tensor]): Rows and columns of the positions ``p'``, rows of the
            result (see :func:`grid_positions`).
        src (tuple[Tensor, Tensor]): Rows and columns of the positions ``p`` whose window is
            read, columns of the result.
        mask_size (tuple[int, int]): ``(mask_h, mask_w)``.

    Returns:
        tuple[Tensor, Tensor]: int64 channels and a bool ``inside`` mask.
    """
    mask_h, mask_w = mask_size
    dh = dst[0].unsqueeze(1) - src[0].unsqueeze(0) + (mask_h - 1) // 2
    dw = dst[1].unsqueeze(1) - src[1].unsqueeze(0) + (mask_w - 1) // 2
    inside = (dh >= 0) & (dh < mask_h) & (dw >= 0) & (dw < mask_w)
    return torch.where(inside, dh * mask_w + dw, torch.zeros_like(dh)), inside


def _block_logits(m: torch.Tensor, kind: str, grid, mask_size, start, stop) -> torch.Tensor:
    """Logits ``Y[:, :, start:stop]`` (B, N_src, cols) of the output positions
    ``[start, stop)``; ``grid`` is :func:`grid_positions` of the map."""
    b, _, n = m.shape
    if kind == 'compact':
        return m[:, :, start:stop]
    if kind == 'compact_transposed':
        return m[:, start:stop, :].transpose(1, 2)
    block = (grid[0][start:stop], grid[1][start:stop])
    if kind == 'collect':
        # Y[p', p] = m[k(p' - p), p] for the columns p in the block: gather within them
        index, inside = psa_window_index(grid, block, mask_size)
        out = m[:, :, start:stop].gather(1, index.unsqueeze(0).expand(b, n, -1))
        return out.masked_fill(~inside, 0.0)
    # distribute: Y[p, p'] = m[k(p' - p), p] for the columns p' in the block, read as (p', p)
    index, inside = psa_window_index(block, grid, mask_size)
    out = m.gather(1, index.unsqueeze(0).expand(b, -1, n)).masked_fill(~inside, 0.0)
    return out.transpose(1, 2)


def point_wise_spatial_attention(x: torch.Tensor,
                                 m: torch.Tensor,
                                 kind: str,
                                 mask_size=None,
                                 softmax: bool = True,
                                 normalization_factor: float = 1.0,
                                 block_size: Optional[int] = None,
                                 memory_budget: int = DEFAULT_MEMORY_BUDGET) -> torch.Tensor:
    """``x · Y / normalization_factor`` with ``Y`` read from ``m`` (see the module docstring),
    its softmax over source positions taken when ``softmax``.

    Args:
        x (Tensor): Features, (B, C, H, W).
        m (Tensor): Predicted logits, (B, K, H, W): ``K = mask_h · mask_w`` for 'collect' and
            'distribute', ``K = H · W`` for the compact kinds.
        kind (str): One of :data:`PSA_KINDS`.
        mask_size (tuple[int, int]): ``(mask_h, mask_w)`` for 'collect' / 'distribute'.
        softmax (bool): Softmax of ``Y`` over the source positions. Default: True.
        normalization_factor (float): Divides the result. Default: 1.
        block_size (int, optional): Output positions per block. Default: from
            ``memory_budget``.
        memory_budget (int): Bytes one block's fp32 logits, their softmax and the window
            index may take.
            Default: 256 MiB.

    Returns:
        Tensor: (B, C, H, W).
    """
    if kind not in PSA_KINDS:
        raise ValueError(f'point_wise_spatial_attention: kind must be one of {PSA_KINDS}, '
                         f'got {kind!r}')
    b, c, h, w = x.shape
    n = h * w
    if kind in ('collect', 'distribute'):
        if mask_size is None or m.shape[1] != mask_size[0] * mask_size[1]:
            raise ValueError(f'point_wise_spatial_attention: {kind} needs mask_size with '
                             f'mask_h * mask_w = {m.shape[1]} (the channels of m), got '
                             f'{mask_size}')
    elif m.shape[1] != n:
        raise RuntimeError(f'point_wise_spatial_attention: the compact map needs H·W = '
                           f'{n} channels (one per position of the {h}×{w} map), got '
                           f'{m.shape[1]}; set mask_size so that mask_h * mask_w = {n}')
    xf = x.reshape(b, c, n)
    mf = m.reshape(b, m.shape[1], n)
    static = isinstance(n, int)
    if block_size:
        cols = int(block_size)
    elif static:
        # per column: fp32 logits and their softmax for each batch element (8·B bytes a
        # pair) plus the int64 window index and its bool mask (9 bytes a pair)
        cols = max(1, int(memory_budget) // (n * (8 * b + 9)))
    else:
        cols = n  # dynamic-shape export: one block (the count is not known when tracing)
    cols = min(cols, n) if static else cols
    recompute = (torch.is_grad_enabled() and (x.requires_grad or m.requires_grad)
                 and static and cols < n and not _tracing())

    grid = grid_positions(h, w, x.device)

    def block(xf, mf, start, stop):
        logits = _block_logits(mf, kind, grid, mask_size, start, stop)
        weights = logits.softmax(dim=1) if softmax else logits
        return torch.bmm(xf, weights.to(xf.dtype))

    if not static or cols >= n:
        out = block(xf, mf, 0, n)
    else:
        outs = []
        for start in range(0, n, cols):
            stop = min(start + cols, n)
            if recompute:
                outs.append(checkpoint(block, xf, mf, start, stop, use_reentrant=False))
            else:
                outs.append(block(xf, mf, start, stop))
        out = torch.cat(outs, dim=2)
    return out.reshape(b, c, h, w) * (1.0 / normalization_factor)
