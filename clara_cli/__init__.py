"""clara: run Medical Model ARchives (MMARs) on PyTorch, MONAI and SimpleITK.

Importing this package must stay cheap: no torch, MONAI or SimpleITK here.
"""

__version__ = "0.1.0"
