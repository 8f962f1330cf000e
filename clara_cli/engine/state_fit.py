"""Why saved weights do not fit a network, in a few lines instead of torch's key dump.

torch's `load_state_dict` error lists every missing and unexpected key (14 KB for a UNet
against a SegResNet checkpoint). The user needs the counts, a few keys, and a guess at which
network the file holds, to see whether they pointed at the wrong file or the wrong config.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: How many keys of each kind the message shows.
SHOWN = 3

#: Key prefixes (the first module names) that MONAI's networks give their state_dicts.
#: No library names a network from its weights, hence this small table; order matters (the
#: first match wins, so SegResNetVAE comes before SegResNet).
_SIGNATURES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("SegResNetVAE", ("convInit.", "vae_")),
    ("SegResNet", ("convInit.", "down_layers.")),
    ("DynUNet", ("input_block.", "downsamples.")),
    ("VNet", ("in_tr.",)),
    ("BasicUNet", ("conv_0.", "down_1.")),
    ("HighResNet", ("blocks.",)),
    ("AHNet", ("conv1.", "bn0.")),
    ("UNet", ("model.0.", "model.1.")),
)


def weights_mismatch(model: Any, state: Mapping[str, Any]) -> str | None:
    """A short description of why `state` does not load into `model`, or None when it fits.

    Counts missing and unexpected keys and tensors of another shape, shows the first few of
    each, and says which network the saved keys look like.
    """
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    reshaped = [
        f"{k} {tuple(state[k].shape)} vs {tuple(expected[k].shape)}"
        for k in expected
        if k in state and hasattr(state[k], "shape") and state[k].shape != expected[k].shape
    ]
    if not (missing or unexpected or reshaped):
        return None
    parts = [
        f"{len(items)} {kind} ({_first(items)})"
        for kind, items in (
            ("missing", missing),
            ("unexpected", unexpected),
            ("of another shape", reshaped),
        )
        if items
    ]
    configured = type(getattr(model, "module", model)).__name__
    return (
        f"the configured network is {describe_state(expected, configured)}; "
        f"the file seems to hold {describe_state(state)}. Keys: {', '.join(parts)}"
    )


def describe_state(state: Mapping[str, Any], name: str | None = None) -> str:
    """'a UNet (3D, 1 input channel(s), 281,609 parameters)' as far as the keys tell.

    Args:
        state: a state_dict.
        name: the network's class when known; else guessed from the keys.
    """
    name = name or guess_network(state)
    tensors = [v for v in state.values() if hasattr(v, "shape")]
    count = sum(int(v.numel()) for v in tensors)
    convs = [v for v in tensors if len(v.shape) >= 3]
    shape = ""
    if convs:
        dims = len(convs[0].shape) - 2
        shape = f"{dims}D, {int(convs[0].shape[1])} input channel(s), "
    what = f"a {name}" if name else f"a network with modules {_first(_top_modules(state))}"
    return f"{what} ({shape}{count:,} parameters)"


def guess_network(state: Mapping[str, Any]) -> str | None:
    """The MONAI network whose key prefixes `state` has, or None."""
    keys = list(state)
    for name, prefixes in _SIGNATURES:
        if all(any(k.startswith(p) for k in keys) for p in prefixes):
            return name
    return None


def _top_modules(state: Mapping[str, Any]) -> list[str]:
    return list(dict.fromkeys(k.split(".", 1)[0] for k in state))


def _first(items: list[str]) -> str:
    shown = ", ".join(items[:SHOWN])
    return shown + (f", ... {len(items) - SHOWN} more" if len(items) > SHOWN else "")


def load_fitting_weights(model: Any, state: Mapping[str, Any], source: Any) -> None:
    """`model.load_state_dict(state)`, or a short ConfigError naming `source` and the misfit.

    Raises:
        ConfigError: the keys or shapes of `state` do not match `model`.
    """
    from clara_cli.errors import ConfigError

    mismatch = weights_mismatch(model, state)
    if mismatch is None:
        try:
            model.load_state_dict(state)
            return
        except RuntimeError as err:  # a misfit the key/shape comparison does not see
            mismatch = str(err).splitlines()[0]
    raise ConfigError(
        f"{source}: the saved weights do not fit the configured network: {mismatch}\n"
        "  use the checkpoint trained with this config, or the config it was trained with"
    )
