"""workflows layer: one glue module per notebook, from a profile's parameters to its tables, figures and summary."""
