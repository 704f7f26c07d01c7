"""Run a few layers of a Caffe ``.prototxt`` in PyTorch, for the families whose authors released
only Caffe models (SENet, SKNet): the prototxt is the spec, and this reads it literally.

Only what those units use is supported: ``Convolution``, ``CuDNNBatchNorm`` (SKNet's fused BN
with scale and bias: blobs scale, bias, mean, variance; ``eps`` 1e-5, the default of its
``BatchNormParameter``), ``ReLU``, ``Sigmoid``, ``Eltwise`` (SUM), global average ``Pooling``,
``Reshape``, ``Softmax``, ``Slice``, ``Scale`` with a second bottom, and ``Axpy``
(``a * x + y``, hujie-frank/SENet ``include/caffe/layers/axpy_layer.hpp``). Any other type, or
an option this file does not read, raises ``NotImplementedError``. A BN in train mode
normalises with the batch mean and the biased batch variance (what cuDNN's training forward
does); in eval mode with the stored statistics. Caffe's own code never runs here.
"""
import re

import torch
import torch.nn as nn
import torch.nn.functional as F


def parse(text: str) -> list:
    """The ``layer { ... }`` blocks of a prototxt, each a dict whose values are lists (a key may
    repeat, as ``bottom`` does); nested blocks are dicts of the same form."""
    tokens = re.findall(r'"[^"]*"|[{}]|[^\s{}:]+:|[^\s{}]+', re.sub(r'#[^\n]*', '', text))
    pos = 0

    def block():
        nonlocal pos
        out = {}
        while pos < len(tokens) and tokens[pos] != '}':
            key = tokens[pos].rstrip(':')
            pos += 1
            if tokens[pos] == '{':
                pos += 1
                value = block()
                pos += 1  # '}'
            else:
                value = tokens[pos].strip('"')
                pos += 1
            out.setdefault(key, []).append(value)
        return out

    return block().get('layer', [])


def _one(params: dict, key: str, default=None, cast=int):
    values = params.get(key)
    return default if values is None else cast(values[0])


class PrototxtUnit(nn.Module):
    """The layers ``first`` .. ``last`` (by name, in file order) of a prototxt, run from the
    blob ``input_blob``; ``forward(x)`` returns the blob ``output_blob``. ``zero_blobs`` are
    blobs that exist outside the unit (a residual shortcut), fed as zeros shaped like
    ``x``; the layers in the range that compute them are left out. Parameters are named after
    the Caffe layer, ``params.<layer name, '/' as '|'>.weight``."""

    def __init__(self, layers: list, first: str, last: str, input_blob: str, output_blob: str,
                 in_channels: int, zero_blobs=()):
        super().__init__()
        names = [layer['name'][0] for layer in layers]
        # the layers that compute a zero blob (the shortcut) are not part of the unit
        self.layers = [layer for layer in layers[names.index(first):names.index(last) + 1]
                       if layer.get('top', [None])[0] not in zero_blobs]
        self.input_blob, self.output_blob, self.zero_blobs = input_blob, output_blob, zero_blobs
        for layer in self.layers:
            if layer['type'][0] not in ('Convolution', 'CuDNNBatchNorm', 'ReLU', 'Sigmoid',
                                        'Eltwise', 'Pooling', 'Reshape', 'Softmax', 'Slice',
                                        'Scale', 'Axpy'):
                raise NotImplementedError(f"{layer['name'][0]}: layer type {layer['type'][0]}")
        self.params = nn.ModuleDict()
        with torch.no_grad():  # a dry run gives every conv and BN its input channels
            self.eval()
            self._run(torch.zeros(2, in_channels, 5, 7), build=True)

    @staticmethod
    def _key(layer) -> str:
        return layer['name'][0].replace('/', '|').replace('.', '_')

    def _param(self, layer):
        return self.params[self._key(layer)]

    def _run(self, x: torch.Tensor, build: bool = False) -> torch.Tensor:
        blobs = {self.input_blob: x}
        for blob in self.zero_blobs:
            blobs[blob] = torch.zeros_like(x)
        for layer in self.layers:
            kind, name = layer['type'][0], layer['name'][0]
            bottoms = [blobs[b] for b in layer.get('bottom', [])]
            if kind == 'Convolution':
                if build:
                    p = layer['convolution_param'][0]
                    known = {'num_output', 'bias_term', 'pad', 'kernel_size', 'group', 'stride',
                             'dilation', 'weight_filler', 'bias_filler'}
                    if set(p) - known:
                        raise NotImplementedError(f'{name}: convolution options {set(p) - known}')
                    self.params[self._key(layer)] = nn.Conv2d(
                        bottoms[0].shape[1], _one(p, 'num_output'), _one(p, 'kernel_size'),
                        stride=_one(p, 'stride', 1), padding=_one(p, 'pad', 0),
                        dilation=_one(p, 'dilation', 1), groups=_one(p, 'group', 1),
                        bias=_one(p, 'bias_term', 'true', str) == 'true')
                top = self._param(layer)(bottoms[0])
            elif kind == 'CuDNNBatchNorm':
                if build:
                    p = layer.get('batch_norm_param', [{}])[0]
                    self.params[self._key(layer)] = nn.BatchNorm2d(
                        bottoms[0].shape[1], eps=_one(p, 'eps', 1e-5, float))
                bn = self._param(layer)
                if self.training:  # batch mean, biased batch variance
                    mean = bottoms[0].mean(dim=(0, 2, 3), keepdim=True)
                    var = bottoms[0].var(dim=(0, 2, 3), unbiased=False, keepdim=True)
                else:
                    mean = bn.running_mean.view(1, -1, 1, 1)
                    var = bn.running_var.view(1, -1, 1, 1)
                top = ((bottoms[0] - mean) / torch.sqrt(var + bn.eps) * bn.weight.view(1, -1, 1, 1)
                       + bn.bias.view(1, -1, 1, 1))
            elif kind == 'ReLU':
                top = F.relu(bottoms[0])
            elif kind == 'Sigmoid':
                top = torch.sigmoid(bottoms[0])
            elif kind == 'Eltwise':
                p = layer.get('eltwise_param', [{}])[0]
                if _one(p, 'operation', 'SUM', str) != 'SUM' or 'coeff' in p:
                    raise NotImplementedError(f'{name}: only a plain SUM')
                top = sum(bottoms[1:], bottoms[0])
            elif kind == 'Pooling':
                p = layer['pooling_param'][0]
                if (_one(p, 'pool', cast=str) != 'AVE'
                        or _one(p, 'global_pooling', cast=str) != 'true'):
                    raise NotImplementedError(f'{name}: only global average pooling')
                top = bottoms[0].mean(dim=(2, 3), keepdim=True)
            elif kind == 'Reshape':
                dims = [int(d) for d in layer['reshape_param'][0]['shape'][0]['dim']]
                shape = [bottoms[0].shape[i] if d == 0 else d for i, d in enumerate(dims)]
                top = bottoms[0].reshape(shape)
            elif kind == 'Softmax':
                axis = _one(layer.get('softmax_param', [{}])[0], 'axis', 1)
                top = torch.softmax(bottoms[0], dim=axis)
            elif kind == 'Slice':
                p = layer['slice_param'][0]
                axis, point = _one(p, 'axis', 1), [int(s) for s in p['slice_point']]
                edges = [0] + point + [bottoms[0].shape[axis]]
                for t, (a, b) in zip(layer['top'], zip(edges, edges[1:])):
                    blobs[t] = bottoms[0].narrow(axis, a, b - a)
                continue
            elif kind == 'Scale':
                p = layer.get('scale_param', [{}])[0]
                if len(bottoms) != 2 or _one(p, 'bias_term', 'false', str) != 'false':
                    raise NotImplementedError(f'{name}: only a two-bottom Scale without bias')
                axis, scale = _one(p, 'axis', 1), bottoms[1]
                shape = [1] * axis + list(scale.shape)
                shape += [1] * (bottoms[0].dim() - len(shape))
                top = bottoms[0] * scale.reshape(shape)
            elif kind == 'Axpy':  # top = a * x + y, a of shape (N, C[, 1, 1])
                a, xx, y = bottoms
                top = a.reshape(a.shape[0], a.shape[1], 1, 1) * xx + y
            blobs[layer['top'][0]] = top
        return blobs[self.output_blob]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._run(x)
