"""Analysis tools (docs/analysis.md):

* :mod:`.flops`: FLOP counting that sees fused attention (mmengine handles);
* :mod:`.attention_maps`: attention / gate maps of attnplug's modules, recomputed from the
  input a forward hook captured; :mod:`.overlay`: drawing them over the image;
* :mod:`.profiling`: latency and peak memory (CPU and CUDA) for the benchmarks;
* :mod:`.build`: building any mmseg / mmdet config offline, for the tools.

Nothing is imported here, so that each tool pulls in only what it needs.
"""
