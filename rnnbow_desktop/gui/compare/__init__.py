"""The "Compare sessions" window: sessions side by side, aligned by training batch, under two overlaid horizon plots."""
