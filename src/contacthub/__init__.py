"""ContactHub: every customer touchpoint as an immutable event, and the read models built from them."""

__version__ = "0.1.0"
