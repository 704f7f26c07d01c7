"""Drawing the attention-map protocol (docs/analysis.md):

* :mod:`.attention_maps`: the attention / gate maps of attnplug's modules (and any module with
  an ``attention_maps`` method), recomputed from the input a forward hook captured;
* :mod:`.overlay`: those maps drawn over the image, and panel grids.

Used by the runner hook ``attnplug.AttentionMapHook`` and ``tools/visualize_attention.py``.
Nothing is imported here, so that each user pulls in only what it needs.
"""
