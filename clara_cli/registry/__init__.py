"""Component lookup tables and construction of config components."""
