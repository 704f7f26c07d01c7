"""Reading an exported ONNX graph: the shape of every value, and the N×N check.

The dynamo exporter writes some computations (e.g. the body of a ``Scan``) as model-local
functions, whose values carry no shapes. :func:`value_shapes` inlines those functions first and
then runs ONNX shape inference, so the values inside loop bodies are seen too.
"""
from typing import Dict, Iterator, List, Tuple, Union

__all__ = ['value_shapes', 'quadratic_values', 'largest_value', 'count_nodes']

Shape = Tuple[Union[int, str, None], ...]


def _load(model):
    import onnx
    if isinstance(model, (str, bytes)) or hasattr(model, '__fspath__'):
        model = onnx.load(str(model) if not isinstance(model, bytes) else model,
                          load_external_data=False)
    return model


def _graphs(graph) -> Iterator:
    """A graph and all its subgraphs (Scan/Loop/If bodies), depth first."""
    yield graph
    for node in graph.node:
        for attr in node.attribute:
            if attr.g is not None and attr.g.node:
                yield from _graphs(attr.g)
            for g in attr.graphs:
                yield from _graphs(g)


def _dims(t) -> Shape:
    if not t.HasField('tensor_type') or not t.tensor_type.HasField('shape'):
        return None
    return tuple(d.dim_value if d.HasField('dim_value') else (d.dim_param or None)
                 for d in t.tensor_type.shape.dim)


def value_shapes(model, initializers: bool = True) -> Dict[str, Shape]:
    """Every value of the model, subgraphs included, mapped to its inferred shape.

    Args:
        model (str | onnx.ModelProto): An ONNX file or model.
        initializers (bool): Include the initializers (weights, constants). Default: True.

    Returns:
        dict: value name -> tuple of dims (int, a symbolic name, or None when unknown).
    """
    import onnx
    from onnx import inliner, shape_inference

    model = _load(model)
    if model.functions:
        model = inliner.inline_local_functions(model)
    model = shape_inference.infer_shapes(model, data_prop=True)
    shapes = {}
    for g in _graphs(model.graph):
        for vi in list(g.input) + list(g.value_info) + list(g.output):
            dims = _dims(vi.type)
            if dims is not None:
                shapes[vi.name] = dims
        for init in g.initializer:
            if initializers:
                shapes[init.name] = tuple(init.dims)
            else:
                shapes.pop(init.name, None)
    del onnx
    return shapes


def quadratic_values(model, n: Union[int, str]) -> List[Tuple[str, Shape]]:
    """The computed values (weights and constants left out) with two or more dimensions
    equal to ``n``: an N×N attention map for N = ``n`` positions. Empty when the graph holds
    none. Pick a size whose N equals no channel count or image side.

    Args:
        model (str | onnx.ModelProto): An ONNX file or model.
        n (int | str): N, or for a dynamic-shape export its symbolic name as the exporter
            writes it (e.g. ``'w*h'`` for the flattened positions of an (h, w) input).
    """
    return [(name, s) for name, s in value_shapes(model, initializers=False).items()
            if sum(1 for d in s if d == n) >= 2]


def _numel(shape: Shape) -> int:
    total = 1
    for d in shape:
        if not isinstance(d, int):
            return -1
        total *= d
    return total


def largest_value(model, containing: int = None) -> Tuple[str, Shape, int]:
    """The value with most elements (among those with a dimension equal to ``containing``,
    when given): (name, shape, elements). Values of unknown or symbolic shape are skipped."""
    best = ('', (), 0)
    for name, s in value_shapes(model, initializers=False).items():
        if containing is not None and containing not in s:
            continue
        numel = _numel(s)
        if numel > best[2]:
            best = (name, s, numel)
    return best


def count_nodes(model) -> Dict[str, int]:
    """Node count by op type over the graph and its subgraphs (functions inlined)."""
    from onnx import inliner
    model = _load(model)
    if model.functions:
        model = inliner.inline_local_functions(model)
    counts: Dict[str, int] = {}
    for g in _graphs(model.graph):
        for node in g.node:
            counts[node.op_type] = counts.get(node.op_type, 0) + 1
    return counts
