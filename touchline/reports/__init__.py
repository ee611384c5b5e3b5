"""Analytics over the interaction record, in pandas."""
