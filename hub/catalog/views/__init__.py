"""Web catalog views, one module per page family."""
