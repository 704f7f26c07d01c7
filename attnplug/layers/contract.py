"""Input checks shared by every attnplug layer."""
import torch


def check_channels(module: torch.nn.Module, x: torch.Tensor, expected: int,
                   key: str = 'in_channels') -> None:
    """Fail with the module's name, the config key and the expected count when
    ``x`` does not have ``expected`` channels (dim 1)."""
    if x.dim() != 4:
        raise ValueError(f'{type(module).__name__}: expected a 4D (N, C, H, W) input, '
                         f'got shape {tuple(x.shape)}')
    if x.shape[1] != expected:
        raise ValueError(
            f'{type(module).__name__}: expected {expected} input channels '
            f'({key}={expected}), got {x.shape[1]} (input shape {tuple(x.shape)}). '
            f'Set {key} to the channels of the feature it is applied to.')


def channel_groups(owner: str, in_channels: int, groups, default: int,
                   per_group_multiple: int = 1) -> int:
    """The number of channel groups ``G`` of a grouped attention (SGE, EMA, shuffle attention).

    ``in_channels`` must equal ``G · per_group_multiple · k`` for a whole ``k ≥ 1``
    (shuffle attention splits each group in two halves: ``per_group_multiple=2``).

    * ``groups`` given: it is used as is, or a ``ValueError`` names ``owner``, ``groups``,
      ``in_channels`` and the values that would fit.
    * ``groups=None``: the authors' ``default`` when it fits, else the largest fitting
      ``G < default`` (so that ``cls(in_channels=C)`` builds at any ``C``, as the layer
      convention asks; at the widths the authors used, ``C ≥ 256``, it is their value).
    """
    if in_channels % per_group_multiple:
        raise ValueError(f'{owner}: in_channels={in_channels} must be a multiple of '
                         f'{per_group_multiple} (each group splits into {per_group_multiple} '
                         'equal parts)')
    fits = [g for g in range(1, in_channels // per_group_multiple + 1)
            if in_channels % (g * per_group_multiple) == 0]
    if groups is None:
        return max(g for g in fits if g <= default)
    if groups not in fits:
        need = f'in_channels / {per_group_multiple}' if per_group_multiple > 1 else 'in_channels'
        shown = ', '.join(map(str, fits[:12])) + (', ...' if len(fits) > 12 else '')
        raise ValueError(f'{owner}: groups={groups} must divide {need} '
                         f'(in_channels={in_channels}); expected one of {shown}')
    return int(groups)
