"""Notebook glue: one module per notebook, from a profile's parameters to its tables,
figures' inputs and summary, so that each notebook cell is one or two calls."""
