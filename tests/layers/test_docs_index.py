"""The generated index of registered layers in docs/modules.md is in sync with the registry:
a new layer appears there by running ``python tests/layers/test_docs_index.py --write``, with
no hand edit of the docs."""
import re
import sys
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / 'docs' / 'modules.md'
START, END = '<!-- registered-layers:start -->', '<!-- registered-layers:end -->'


def _summary(cls) -> str:
    """The class docstring's first paragraph, its reST links made markdown."""
    text = ' '.join((cls.__doc__ or '').strip().split('\n\n')[0].split())
    return re.sub(r'`([^`<]+?) <([^>]+)>`_', r'[\1](\2)', text).replace('``', '`')


def render() -> str:
    from attnplug.layers.base import registered_layers
    rows = ['| registered name | plugin layer name | what it is | attention maps |',
            '|---|---|---|---|']
    for name, cls in registered_layers().items():
        abbr = f'`{cls._abbr_}`' if '_abbr_' in vars(cls) else '- (a conv layer)'
        maps = 'yes' if callable(getattr(cls, 'attention_maps', None)) else '-'
        rows.append(f'| `{name}` | {abbr} | {_summary(cls)} | {maps} |')
    return '\n'.join([START, '', *rows, '', END])


def _current() -> str:
    text = DOC.read_text()
    return text[text.index(START):text.index(END) + len(END)]


def test_the_index_lists_every_registered_layer():
    assert _current() == render(), (
        'docs/modules.md is out of date: run python tests/layers/test_docs_index.py --write')


if __name__ == '__main__':
    if '--write' not in sys.argv:
        sys.exit('usage: python tests/layers/test_docs_index.py --write')
    text = DOC.read_text()
    DOC.write_text(text.replace(_current(), render()))
    print(f'updated {DOC}')
