"""Criss-cross attention as a pure tensor function.

"CCNet: Criss-Cross Attention for Semantic Segmentation", Huang et al., arXiv 1811.11721
(Sec. 3.2, Eqs. 1-2). Each pixel attends to the H + W - 1 pixels of its own column and row.

Semantics follow mmcv 2.1.0's pure-PyTorch ``mmcv.ops.CrissCrossAttention`` exactly: the
column energies ``e_H[b, h, w, i] = <q[b, :, h, w], k[b, :, i, w]>`` get ``-inf`` at
``i == h`` so the pixel itself is counted once (through the row energies), one softmax runs
over the concatenated H + W energies, and the values of the column and the row are summed
with those weights. There is no scaling of the energies (as in the paper and mmcv).

Departures: the self-position mask is built from an ``arange`` comparison, not from
``torch.diag`` (which the legacy TorchScript ONNX exporter cannot export), and the softmax
runs in fp32 under autocast. Memory is O(B·H·W·(H+W)) for the energies; no N×N matrix
is built. mmcv is never imported.
"""
import torch

from .bounded_attention import involves_fp16, matmul_fp32

__all__ = ['criss_cross_attention', 'criss_cross_energies']


def criss_cross_energies(query: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
    """Energies of every pixel against its column and its row.

    Args:
        query (Tensor): (B, C', H, W).
        key (Tensor): (B, C', H, W).

    Returns:
        Tensor: (B, H, W, H + W) fp32 energies; index ``i < H`` is the column pixel
        ``(i, w)`` (``-inf`` at ``i == h``), index ``H + j`` the row pixel ``(h, j)``.
    """
    if query.shape != key.shape or query.dim() != 4:
        raise ValueError(f'criss_cross_energies: query and key must be equal (B, C, H, W) '
                         f'shapes, got {tuple(query.shape)} and {tuple(key.shape)}')
    h = query.shape[2]
    # Column: for each column w, (H x C') @ (C' x H) -> e_col[b, w, h, i].
    # Row: for each row h, (W x C') @ (C' x W) -> e_row[b, h, w, j].
    if involves_fp16(query, key):
        # Unscaled dot products overflow fp16's 65504 easily: form them in fp32.
        e_col = matmul_fp32(query.permute(0, 3, 2, 1), key.permute(0, 3, 1, 2))
        e_row = matmul_fp32(query.permute(0, 2, 3, 1), key.permute(0, 2, 1, 3))
    else:
        e_col = torch.matmul(query.permute(0, 3, 2, 1), key.permute(0, 3, 1, 2))
        e_row = torch.matmul(query.permute(0, 2, 3, 1), key.permute(0, 2, 1, 3))
    rows = torch.arange(h, device=query.device)
    self_pos = rows.unsqueeze(1) == rows.unsqueeze(0)  # (H, H), True at i == h
    e_col = e_col.float().masked_fill(self_pos, float('-inf')).permute(0, 2, 1, 3)
    return torch.cat([e_col, e_row.float()], dim=-1)


def criss_cross_attention(query: torch.Tensor, key: torch.Tensor,
                          value: torch.Tensor) -> torch.Tensor:
    """One criss-cross aggregation (no residual, no gamma).

    Args:
        query (Tensor): (B, C', H, W).
        key (Tensor): (B, C', H, W).
        value (Tensor): (B, C, H, W).

    Returns:
        Tensor: (B, C, H, W), for each pixel the softmax-weighted sum of the values in its
        column and row (Eq. 2 of arXiv 1811.11721).
    """
    b, _, h, w = query.shape
    if value.shape[0] != b or value.shape[2:] != query.shape[2:]:
        raise ValueError(f'criss_cross_attention: value {tuple(value.shape)} does not match '
                         f'query {tuple(query.shape)}')
    attn = criss_cross_energies(query, key).softmax(dim=-1).to(value.dtype)  # (B, H, W, H+W)
    a_col = attn[..., :h].permute(0, 2, 1, 3)  # (B, W, H, H): [b, w, h, i]
    a_row = attn[..., h:]  # (B, H, W, W): [b, h, w, j]
    out_col = torch.matmul(a_col, value.permute(0, 3, 2, 1))  # (B, W, H, C)
    out_row = torch.matmul(a_row, value.permute(0, 2, 3, 1))  # (B, H, W, C)
    return out_col.permute(0, 3, 2, 1) + out_row.permute(0, 3, 1, 2)
