"""2D encoder/decoder models on 3D volumes: the machinery slice-based families share.

Not a model family itself (it defines no ``FAMILY``); SegTHOR and the cervical-spine family
build on it. Three small modules, each usable from a Clara config by ``path``:

- :mod:`~clara_cli.families.slice2d.networks`: ``smp_network`` builds a
  segmentation_models_pytorch ``Unet | FPN | Linknet | PSPNet`` over an encoder
  (``resnet34``, ``densenet121``, ...), randomly initialised, or with ImageNet encoder
  weights read from a local file the user gives (``PRETRAIN_WEIGHTS_FILE``): nothing is
  ever downloaded. ``trained_network`` rebuilds a network from a clara checkpoint.
- :mod:`~clara_cli.families.slice2d.data`: ``RandSlicesd`` draws 2D slices from cached 3D
  volumes along one axis (or any of the three, ``"012"``), with a configurable weight for
  slices without any label.
- :mod:`~clara_cli.families.slice2d.inference`: ``SliceWiseInferer`` runs a 2D network on
  every slice of a 3D volume (MONAI's SliceInferer through
  :func:`clara_cli.engine.inference.slicewise_inferer`), on one axis or fusing the three
  with the engine's ``mean_of_probabilities``; ``slice_members`` / ``predict_volume`` do the
  same for several networks (one per view axis, or an ensemble).

Only the standard library is imported here: clara lists the families' modules at start-up.
"""

from __future__ import annotations
