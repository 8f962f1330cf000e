"""Simulated clicks on one validation sample, and the Dice after each.

The loop is MONAI's `Interaction` in evaluation mode (every corrective click is taken) with
the Dice recorded after every prediction instead of only the last: click 1 is the initial
seed of the config's pre-transforms (`AddInitialSeedPointd`: one point per connected part of
the organ in a random slice), each later click is drawn by the `iteration`'s transforms from
the larger of the false-negative and false-positive regions (`FindDiscrepancyRegionsd`,
`AddRandomGuidanced`: deep inside it, by distance transform). The random streams are seeded
per sample from the run's seed and the sample's identity, so a sample gets the same clicks
whatever the order, the number of processes or the other samples.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from clara_cli.families.deepgrow.stats_handler import region_dice


@dataclass
class ClickModel:
    """What the simulation runs: the config's transforms, the network and its inferer.

    Attributes:
        pre_transforms: load, crop, resize, normalise, initial seed, guidance signal.
        click_transforms: one click from the prediction's errors (the `iteration`'s).
        network: the model in eval mode.
        inferer: how it is run (SimpleInferer).
        post_transforms: probabilities to a binary mask (sigmoid, threshold).
        device: where the network runs.
    """

    pre_transforms: Any
    click_transforms: Any
    network: Any
    inferer: Any
    post_transforms: Any
    device: Any


def sample_seed(seed: int, item: dict[str, Any]) -> int:
    """A seed of its own for one datalist item: the run's seed and the item's label file.

    The label's file name, not its path: the same samples in another folder get the same
    clicks (with the absolute path, the Dice moved with the data folder).
    """
    label = PurePath(str(item.get("label", ""))).name
    identity = f"{seed}:{item.get('case', '')}:{item.get('region', '')}:{label}"
    return zlib.crc32(identity.encode("utf-8"))


def simulate_clicks(
    model: ClickModel, item: dict[str, Any], clicks: int, seed: int
) -> list[dict[str, Any]]:
    """Dice of the prediction after 1, 2, ... `clicks` clicks on one sample.

    Returns:
        One row per click count: ``clicks``, ``dice`` (None when the label is empty),
        ``foreground`` and ``background`` (points placed so far).
    """
    import torch

    own_seed = sample_seed(seed, item)
    model.pre_transforms.set_random_state(seed=own_seed)
    model.click_transforms.set_random_state(seed=(own_seed + 1) % 2**32)
    data = model.pre_transforms(dict(item))
    label = data["label"]
    rows = []
    for count in range(1, clicks + 1):
        with torch.inference_mode():
            batch = torch.as_tensor(data["image"]).unsqueeze(0).to(model.device)
            logits = model.inferer(batch, model.network)[0].float().cpu()
        output = {"pred": logits, "label": label}
        if model.post_transforms is not None:
            output = model.post_transforms(output)
        foreground, background = count_points(data["guidance"])
        rows.append(
            {"clicks": count, "dice": region_dice(output["pred"], label),
             "foreground": foreground, "background": background}
        )  # fmt: skip
        if count < clicks:
            data["pred"], data["probability"] = logits, 1.0  # evaluation: every click is taken
            data = model.click_transforms(data)
            label = data["label"]
    return rows


def count_points(guidance: Any) -> tuple[int, int]:
    """Foreground and background points in MONAI deepgrow guidance (JSON text or lists)."""
    if isinstance(guidance, str):
        guidance = json.loads(guidance)
    if hasattr(guidance, "tolist"):
        guidance = guidance.tolist()

    def placed(points: Any) -> int:
        return sum(1 for point in points if min(point) >= 0)

    return placed(guidance[0]), placed(guidance[1])
