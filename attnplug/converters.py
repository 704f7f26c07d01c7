"""Converting the authors' pretrained attention backbones into attnplug's.

The scripts in ``tools/model_converters/`` follow OpenMMLab's convention
(``python tools/model_converters/<name>2attnplug.py SRC DST``). Each one states its renaming
rules and the backbone config its output is for; this module holds what they share:

* :func:`load_source` reads a checkpoint with ``torch.load(weights_only=True)`` and unwraps the
  ``state_dict``/``model`` entry and a ``module.`` prefix (``nn.DataParallel``);
* :func:`rename` applies ordered :class:`Rule` s. Every source key must match a rule: a key no
  rule knows is an error, never a silent drop. A rule with ``target=None`` drops keys on
  purpose (the ImageNet classifier) and says why; the CLI prints them;
* :func:`check_against` compares the result with the state dict of the backbone built from the
  config: a missing key, an unexpected key or a shape mismatch is an error;
* :func:`main` is the command line every converter shares.

Errors are :class:`ConversionError` (a ``ValueError``) naming the converter, the keys and what
was expected. Docs: docs/pretrained.md.
"""
import argparse
import pprint
import re
from collections import OrderedDict
from typing import Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple

import torch

__all__ = ['ConversionError', 'Rule', 'load_source', 'unwrap', 'rename', 'check_against',
           'resnet_layout', 'torchvision_resnet_rules', 'linear_to_conv', 'build_backbone', 'save',
           'main']

#: ResNet depth by blocks per stage, for Bottleneck (True) and BasicBlock (False) stages.
RESNET_DEPTHS = {
    ((3, 4, 6, 3), True): 50, ((3, 4, 23, 3), True): 101, ((3, 8, 36, 3), True): 152,
    ((2, 2, 2, 2), False): 18, ((3, 4, 6, 3), False): 34,
}


class ConversionError(ValueError):
    """A checkpoint that a converter cannot map completely onto its target."""


class Rule(NamedTuple):
    """One renaming rule: a source key that ``re.fullmatch`` es ``pattern`` becomes
    ``re.sub(pattern, target, key)``, its tensor passed through ``transform`` if given.
    ``target=None`` drops the key; ``why`` says why (printed by the CLI)."""
    pattern: str
    target: Optional[str]
    why: str = ''
    transform: Optional[Callable[[torch.Tensor], torch.Tensor]] = None


def unwrap(checkpoint) -> 'OrderedDict[str, torch.Tensor]':
    """The state dict inside a loaded checkpoint: its ``state_dict`` or ``model`` entry (or the
    object itself), without the ``module.`` prefix that ``nn.DataParallel`` adds to every key."""
    sd = checkpoint
    if isinstance(sd, dict):
        for key in ('state_dict', 'model'):
            if isinstance(sd.get(key), dict):
                sd = sd[key]
                break
    if not isinstance(sd, dict) or not sd:
        keys = list(checkpoint)[:8] if isinstance(checkpoint, dict) else '-'
        raise ConversionError(f'no state dict found in the checkpoint (got '
                              f'{type(checkpoint).__name__} with keys {keys})')
    tensors = OrderedDict((k, v) for k, v in sd.items() if isinstance(v, torch.Tensor))
    if len(tensors) != len(sd):
        others = [k for k, v in sd.items() if not isinstance(v, torch.Tensor)]
        raise ConversionError(f'the state dict holds non-tensor entries: {others[:8]}')
    if all(k.startswith('module.') for k in tensors):
        tensors = OrderedDict((k[len('module.'):], v) for k, v in tensors.items())
    return tensors


def load_source(path: str) -> 'OrderedDict[str, torch.Tensor]':
    """Read a checkpoint (safely: ``weights_only=True``) and return its state dict."""
    try:
        checkpoint = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as err:  # the unpickler's message names the refused global
        raise ConversionError(
            f'cannot read {path} with torch.load(weights_only=True): {err}. If you trust the '
            f'file, save its state dict alone (torch.save(ckpt["state_dict"], ...)) and convert '
            f'that.') from err
    return unwrap(checkpoint)


def rename(state_dict: Dict[str, torch.Tensor], rules: Sequence[Rule], where: str
           ) -> Tuple['OrderedDict[str, torch.Tensor]', List[Tuple[str, str]]]:
    """Apply ``rules`` (first match wins) to every key of ``state_dict``.

    Returns:
        (converted state dict, [(dropped key, why), ...]).

    Raises:
        ConversionError: a key matches no rule, or two keys map to one target.
    """
    out, dropped, unknown = OrderedDict(), [], []
    for key, value in state_dict.items():
        rule = next((r for r in rules if re.fullmatch(r.pattern, key)), None)
        if rule is None:
            unknown.append(key)
        elif rule.target is None:
            dropped.append((key, rule.why))
        else:
            new = re.sub(rule.pattern, rule.target, key)
            if new in out:
                raise ConversionError(
                    f'{where}: two source keys map to {new!r} (the second is {key!r})')
            out[new] = rule.transform(value) if rule.transform else value
    if unknown:
        raise ConversionError(
            f'{where}: {len(unknown)} source key(s) match no rule, so this is not the checkpoint '
            f'the converter expects (or a variant it does not know): {unknown[:12]}'
            f'{" ..." if len(unknown) > 12 else ""}')
    return out, dropped


def check_against(state_dict: Dict[str, torch.Tensor], model: torch.nn.Module, where: str) -> None:
    """``state_dict`` fills every entry of ``model.state_dict()``, with the same shapes, and
    has nothing else.

    Raises:
        ConversionError: naming the missing, unexpected and mis-shaped keys.
    """
    expected = model.state_dict()
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    shapes = [f'{k}: {tuple(state_dict[k].shape)} for {tuple(v.shape)}'
              for k, v in expected.items() if k in state_dict and state_dict[k].shape != v.shape]
    problems = []
    if missing:
        problems.append(
            f'missing {len(missing)} key(s) of the {type(model).__name__}: {missing[:12]}')
    if unexpected:
        problems.append(f'{len(unexpected)} key(s) the {type(model).__name__} does not have: '
                        f'{unexpected[:12]}')
    if shapes:
        problems.append(f'shape mismatches (converted for expected): {shapes[:12]}')
    if problems:
        raise ConversionError(f'{where}: the converted checkpoint does not fit its backbone; '
                              + '; '.join(problems))


def resnet_layout(state_dict: Dict[str, torch.Tensor], where: str, prefix: str = 'layer'
                  ) -> Tuple[int, Tuple[int, ...]]:
    """``(depth, blocks per stage)`` of a torchvision-style ResNet state dict (stages
    ``{prefix}1`` .. ``{prefix}4``, blocks ``{prefix}{i}.{j}``; a Bottleneck has ``conv3``)."""
    blocks = {}
    for key in state_dict:
        m = re.match(rf'{prefix}([1-4])\.(\d+)\.', key)
        if m:
            blocks.setdefault(int(m.group(1)), set()).add(int(m.group(2)))
    counts = tuple(len(blocks.get(i, ())) for i in range(1, 5))
    bottleneck = any(re.match(rf'{prefix}1\.0\.conv3\.', k) for k in state_dict)
    depth = RESNET_DEPTHS.get((counts, bottleneck))
    if depth is None:
        raise ConversionError(
            f'{where}: blocks per stage {counts} ({"Bottleneck" if bottleneck else "BasicBlock"}) '
            f'match no ResNet depth; expected one of {sorted(set(RESNET_DEPTHS.values()))}')
    return depth, counts


def torchvision_resnet_rules(*block_rules: Rule, stem: str = '') -> List[Rule]:
    """Rules for a torchvision-layout ResNet (``conv1``, ``bn1``, ``layer{i}.{j}.conv{k}`` /
    ``bn{k}`` / ``downsample.{0,1}``, ``fc``), which is also the layout of mmseg's and mmdet's
    ResNet: those keys keep their names, ``block_rules`` (the attention modules) come first,
    and the ImageNet classifier ``fc`` is dropped. ``stem`` is a prefix of the source's stem
    keys (``'layer0.'`` in Cadene's SENet)."""
    bn = r'(weight|bias|running_mean|running_var|num_batches_tracked)'
    stem = re.escape(stem)
    return [
        *block_rules,
        Rule(rf'{stem}conv1\.weight', 'conv1.weight'),
        Rule(rf'{stem}bn1\.{bn}', r'bn1.\1'),
        Rule(rf'layer([1-4])\.(\d+)\.(conv[1-3]\.weight|bn[1-3]\.{bn}|downsample\.0\.weight'
             rf'|downsample\.1\.{bn})', r'layer\1.\2.\3'),
        Rule(r'(fc|last_linear)\.(weight|bias)', None,
             'the ImageNet classifier; a backbone has none'),
    ]


def linear_to_conv(weight: torch.Tensor) -> torch.Tensor:
    """An ``nn.Linear`` weight ``(out, in)`` as the weight of the equivalent 1x1 conv
    ``(out, in, 1, 1)`` (a :class:`Rule` ``transform``)."""
    return weight[:, :, None, None]


def fill_batch_counters(state_dict: Dict[str, torch.Tensor], model: torch.nn.Module) -> List[str]:
    """Add the BN ``num_batches_tracked`` counters that checkpoints of PyTorch < 0.4.1 lack
    (as zeros, which is what ``load_state_dict`` would leave); return their keys. The counter
    only matters for ``momentum=None``; no weight is invented."""
    added = [k for k, v in model.state_dict().items()
             if k.endswith('num_batches_tracked') and k not in state_dict]
    for k in added:
        state_dict[k] = torch.zeros((), dtype=torch.long)
    return added


def build_backbone(cfg: dict) -> torch.nn.Module:
    """The backbone a converter's output is for, built through attnplug's registry."""
    import copy

    from attnplug.registry import MODELS
    return MODELS.build(copy.deepcopy(cfg))


def save(path: str, state_dict: Dict[str, torch.Tensor], meta: dict) -> None:
    """Save in the layout mmengine's ``Pretrained`` init reads: ``dict(state_dict=..., meta=...)``
    (plain tensors and Python values only, so it loads with ``weights_only=True``)."""
    torch.save(dict(state_dict=OrderedDict(state_dict), meta=meta), path)


def main(name: str, description: str,
         convert: Callable[[Dict[str, torch.Tensor]], Tuple[dict, List[Tuple[str, str]], dict]],
         argv=None) -> None:
    """The command line of ``tools/model_converters/<name>2attnplug.py SRC DST``.

    ``convert(source_state_dict) -> (state_dict, dropped, backbone_cfg)``; ``dropped`` lists
    ``(key, why)`` for the keys left out on purpose (``(None, note)`` for other changes). The
    result is checked against the backbone built from ``backbone_cfg`` before it is written;
    the config to use is printed and stored in the checkpoint's ``meta``.
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument('src', help="the authors' checkpoint (.pth / .pth.tar)")
    parser.add_argument('dst', help='where to write the attnplug checkpoint')
    args = parser.parse_args(argv)
    source = load_source(args.src)
    state_dict, dropped, cfg = convert(source)
    backbone = build_backbone(cfg)
    added = fill_batch_counters(state_dict, backbone)
    check_against(state_dict, backbone, f'{name}2attnplug')
    save(args.dst, state_dict, dict(converter=f'{name}2attnplug', source=str(args.src),
                                    backbone=cfg))
    print(f'{name}2attnplug: {len(source)} source tensors -> {len(state_dict)} in {args.dst}')
    for key, why in dropped:
        print(f'  dropped {key} ({why})' if key else f'  note: {why}')
    if added:
        print(f'  added {len(added)} zero BN counters (num_batches_tracked) the source lacks')
    print('backbone config for this checkpoint (add init_cfg=dict(type=\'Pretrained\', '
          f'checkpoint=\'{args.dst}\')):')
    print(pprint.pformat(cfg, sort_dicts=False))
