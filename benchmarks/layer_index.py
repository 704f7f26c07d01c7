"""The "Registered layers" list of ``docs/modules.md``, generated from attnplug's registry.

``python tools/render_docs.py`` rewrites it (with every other generated block) and
``tests/layers/test_docs_index.py`` fails while the list and the registry differ; nothing
edits it by hand.
"""
import os.path as osp
import re

from .paths import ROOT

__all__ = ['DOC', 'START', 'END', 'render', 'current', 'update']

#: The document that holds the list, between :data:`START` and :data:`END`.
DOC = osp.join(ROOT, 'docs', 'modules.md')
START, END = '<!-- registered-layers:start -->', '<!-- registered-layers:end -->'


def _summary(cls) -> str:
    """The class docstring's first paragraph, its reST links made markdown."""
    text = ' '.join((cls.__doc__ or '').strip().split('\n\n')[0].split())
    return re.sub(r'`([^`<]+?) <([^>]+)>`_', r'[\1](\2)', text).replace('``', '`')


def render() -> str:
    """The list, markers included: one line per registered layer."""
    from attnplug.layers.base import registered_layers
    rows = ['| registered name | plugin layer name | what it is | attention maps |',
            '|---|---|---|---|']
    for name, cls in registered_layers().items():
        abbr = f'`{cls._abbr_}`' if '_abbr_' in vars(cls) else '- (a conv layer)'
        maps = 'yes' if callable(getattr(cls, 'attention_maps', None)) else '-'
        rows.append(f'| `{name}` | {abbr} | {_summary(cls)} | {maps} |')
    return '\n'.join([START, '', *rows, '', END])


def current(doc: str = DOC) -> str:
    """The list as ``doc`` has it now, markers included."""
    with open(doc) as f:
        text = f.read()
    return text[text.index(START):text.index(END) + len(END)]


def update(doc: str = DOC) -> bool:
    """Rewrite the list in ``doc`` from the registry; whether it changed."""
    with open(doc) as f:
        text = f.read()
    new = text.replace(current(doc), render())
    if new != text:
        with open(doc, 'w') as f:
            f.write(new)
    return new != text
