"""Everything computed from training results: comparisons, smoothing, unit features, embeddings, findings.

Numpy (and scipy) only: no Qt, no HDF5. Functions take arrays or the plain objects of `core`.
"""
