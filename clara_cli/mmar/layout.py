"""Where things live in an MMAR, and the reserved words of its configs."""

from __future__ import annotations

CONFIG_DIR = "config"
DEFAULT_ENV = "config/environment.json"
DEFAULT_TRAIN_CONFIG = "config/config_train.json"
DEFAULT_VALIDATION_CONFIG = "config/config_validation.json"
DEFAULT_INFERENCE_CONFIG = "config/config_inference.json"

# Variables holding paths: relative values resolve against MMAR_ROOT, wherever they are set
# (the config, environment.json or --set), as in Clara; absolute values are kept.
PATH_VARIABLES = (
    "DATA_ROOT",
    "DATASET_JSON",
    "MMAR_CKPT_DIR",
    "MMAR_CKPT",
    "MMAR_TORCHSCRIPT",
    "MMAR_PT2",
    "MMAR_EVAL_OUTPUT_PATH",
    "PRETRAIN_WEIGHTS_FILE",
)

# Keys of a workflow section whose values are components (not variables).
SECTION_KEYS = (
    "model",
    "loss",
    "optimizer",
    "lr_scheduler",
    "pre_transforms",
    "dataset",
    "dataloader",
    "inferer",
    "handlers",
    "post_transforms",
    "key_metric",
    "additional_metrics",
    "metrics",
    "iteration",
    "trainer",
    "evaluator",
)
TOP_SECTIONS = ("train", "validate")

# A JSON object with one of these keys is a component (it names a class, or reuses one).
COMPONENT_NAME_KEYS = ("name", "path", "ref")
# A validation/inference config's `model` entries: where the network is loaded from.
MODEL_LOADER_KEYS = ("ts_path", "pt2_path", "ckpt_path")

# Keys of a component object that are not constructor arguments.
COMPONENT_KEYS = frozenset(
    {
        "name",
        "path",
        "args",
        "disabled",
        "rank",
        "ref",
        "log_label",
        "is_key_metric",
        "data_list_file_path",
        "data_file_base_dir",
        "data_list_key",
    }
)

# Clara 3 / 4.0 spellings of top-level switches, mapped to the 4.1 names.
LEGACY_VARIABLES = {"use_amp": "amp", "num_training_epoch_per_valid": "num_interval_per_valid"}
