"""Itemized gradients of a user's own PyTorch recurrent network (optional: pip install rnnbow-desktop[torch]).

Importing this package needs no PyTorch; the first use of anything in it does, and says how to get it.
"""

from __future__ import annotations

import importlib

from ..core.errors import RnnbowError


class TorchNotInstalled(RnnbowError, ImportError):
    """PyTorch is missing: the torch extra was not installed."""


# Public name -> the submodule that defines it; loaded on first use so that the app never needs torch.
_EXPORTS = {
    "itemize_module": "itemized",
    "check_module": "itemized",
    "LayerItemized": "itemized",
    "Recorder": "recorder",
    "describe_module": "recorder",
}

__all__ = ["LayerItemized", "Recorder", "TorchNotInstalled", "check_module", "describe_module", "itemize_module"]


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        importlib.import_module("torch")
    except ImportError:
        raise TorchNotInstalled(
            f"rnnbow_desktop.torch.{name} needs PyTorch: pip install rnnbow-desktop[torch]"
        ) from None
    module = importlib.import_module(f".{_EXPORTS[name]}", __name__)
    return getattr(module, name)
