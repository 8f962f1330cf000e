from __future__ import annotations

import json

import pytest

from clara_cli.errors import ConfigError, DataError
from clara_cli.io.datalist import read_datalist
from clara_cli.io.json_keys import unique_keys


def test_a_repeated_key_raises_the_given_error_naming_file_and_key():
    text = '{"training": [{"image": "a.nii.gz", "image": "b.nii.gz"}]}'
    with pytest.raises(ConfigError, match=r"^ds\.json: key 'image' appears twice"):
        json.loads(text, object_pairs_hook=unique_keys("ds.json", ConfigError))


def test_objects_without_repeats_read_as_usual():
    text = '{"a": 1, "b": {"a": 2}}'
    assert json.loads(text, object_pairs_hook=unique_keys("x.json", DataError)) == json.loads(text)


def test_a_datalist_with_a_repeated_key_is_a_data_error(tmp_path):
    path = tmp_path / "dataset_0.json"
    path.write_text('{"training": [], "training": []}', encoding="utf-8")
    with pytest.raises(DataError, match="key 'training' appears twice"):
        read_datalist(path)
