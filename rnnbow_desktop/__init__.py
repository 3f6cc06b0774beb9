"""RNNbow Desktop: watch the itemized gradients of a recurrent network while it learns."""

__version__ = "0.1.0"
