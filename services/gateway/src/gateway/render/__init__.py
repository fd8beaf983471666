"""Plain functions from items to bytes: one module per output."""
