"""Everything computed from training results: comparisons, smoothing, unit features, embeddings, findings.

Numpy (and scipy) only: no Qt, no HDF5. Functions take arrays or the plain objects of `core`.
"""

__all__ = ["multislice_embedding"]


def __getattr__(name: str):
    # The public entry point of issue 15, loaded on first use: importing scipy's sparse and linalg
    # modules for every analysis import would slow the start of every command.
    if name == "multislice_embedding":
        from .multislice import multislice_embedding

        return multislice_embedding
    raise AttributeError(f"module 'rnnbow_desktop.analysis' has no attribute {name!r}")
