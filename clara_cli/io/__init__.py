"""Image input and output through SimpleITK, keeping geometry with the array."""
