"""Runner extensions (mmengine hooks). Importing this package registers them in
``attnplug.registry.HOOKS``; configs reach them as ``type='attnplug.<Name>'``."""
from .hooks import AttentionMapHook  # noqa: F401  (registration)
