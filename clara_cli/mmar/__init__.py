"""The model-archive layer: layout, loading, variables and references."""
