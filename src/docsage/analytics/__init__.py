"""Analytics over conversations."""
