"""Dataset conversion, preparation and synthetic phantoms."""
