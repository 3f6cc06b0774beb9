"""RNNbow Desktop: watch the itemized gradients of a recurrent network while it learns.

The public API (docs/api.md): `open_session(path)` and `train(corpus, out, batches, **settings)`.
They load on first use, so `import rnnbow_desktop` stays cheap.
"""

from .core.version import __version__
__all__ = ["__version__", "open_session", "train"]


def __getattr__(name: str):
    if name in ("open_session", "train", "OpenSession"):
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'rnnbow_desktop' has no attribute {name!r}")
