"""The generated index of registered layers in docs/modules.md is in sync with the registry:
a new layer appears there by running ``python tools/render_docs.py`` (which renders it with
``benchmarks/layer_index.py``), with no hand edit of the docs."""
from benchmarks import layer_index


def test_the_index_lists_every_registered_layer():
    assert layer_index.current() == layer_index.render(), (
        'docs/modules.md is out of date: run python tools/render_docs.py')


def test_the_index_check_sees_a_stale_list(tmp_path):
    """The check can fail: a copy of the doc with one registered layer dropped from its list
    differs from the rendering, and update() puts it back."""
    doc = tmp_path / 'modules.md'
    text = open(layer_index.DOC).read()
    line = next(ln for ln in layer_index.current().split('\n') if ln.startswith('| `CBAM` |'))
    doc.write_text(text.replace(line + '\n', ''))
    assert layer_index.current(str(doc)) != layer_index.render()
    assert layer_index.update(str(doc)) and layer_index.current(str(doc)) == layer_index.render()
    assert not layer_index.update(str(doc))
