from .attention_map_hook import AttentionMapHook, render_attention_grid  # noqa: F401
