"""The experiments of the attnplug repository -- not part of the installed package.

Like mmseg's ``.dev_scripts/``, this folder runs from a checkout (``setup.py`` packages
``attnplug`` alone): it needs the configs, the bundled ``data/`` and the committed results
under ``docs/``. The repository root comes from :mod:`.paths` alone.

* :mod:`.learning`: training and testing configs over seeds with the stock tools, run records,
  what the benchmark cost;
* :mod:`.leaderboard`: run records to typed rows, statistics against the baseline, and the
  leaderboard's markdown, plot and model index;
* :mod:`.sweep`: placement sweeps written as delta configs, and their grid;
* :mod:`.cue`: the cue classes of the bundled data and the scores a cue-blind model reaches;
* :mod:`.head_benchmark`, :mod:`.module_benchmark`, :mod:`.det_plugin_cost`,
  :mod:`.deploy_benchmark`: the cost benchmarks of heads, modules, detection plugins and
  deployment (ONNX, ``torch.compile``);
* :mod:`.bundled`: facts of the bundled synthetic data (cue classes, learning thresholds);
* :mod:`.reporting`: the one report writer (headers, CSV, markdown, figures, generated doc
  blocks), :mod:`.doc_blocks`: the renderers of the blocks in the docs, and
  :mod:`.layer_index`: the registered-layers list of ``docs/modules.md``;
* :mod:`.relaunch`: restarting a tool under the allocator setting its memory column needs.

``tools/*.py`` are thin command lines over these and over ``attnplug``.
"""
