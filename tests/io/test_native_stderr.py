"""ITK's MetaImage reader prints its parse errors to C++ stderr; clara logs them at debug
level (shown with -v) and lets every other byte of stderr through."""

from __future__ import annotations

import logging
import os

import pytest
import SimpleITK as sitk

from clara_cli.errors import DataError
from clara_cli.io.image import read_image
from clara_cli.io.native_stderr import metaio_to_log


@pytest.fixture
def clara_debug_records():
    records: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record.getMessage())

    logger = logging.getLogger("clara")
    # Only this handler: a stderr handler left by an earlier test's CLI run would print the
    # debug lines where the tests look for raw ones.
    saved, level = logger.handlers[:], logger.level
    logger.handlers = [Collect(level=logging.DEBUG)]
    logger.setLevel(logging.DEBUG)
    yield records
    logger.handlers = saved
    logger.setLevel(level)


def test_truncated_metaimage_error_has_no_raw_itk_lines(
    tmp_path, ct_pair, capfd, clara_debug_records
):
    whole = tmp_path / "ct.mha"
    sitk.WriteImage(ct_pair[0], str(whole))
    truncated = tmp_path / "cut.mha"
    truncated.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(DataError, match="cut.mha"):
        read_image(truncated)
    assert "MetaImage" not in capfd.readouterr().err
    assert any("data not read completely" in r for r in clara_debug_records)


def test_other_stderr_output_passes_through(capfd, clara_debug_records):
    with metaio_to_log():
        with metaio_to_log():  # nested (overlapping reads): redirected once
            os.write(2, b"MetaImage: M_Read: Error parsing file\n")
        os.write(
            2, b"progress 50%\r\n   ideal = 10 : actual = 5\nDimSize required and not defined.\n"
        )
    assert capfd.readouterr().err == "progress 50%\r\n"
    assert clara_debug_records == [
        "ITK MetaImage reader: MetaImage: M_Read: Error parsing file",
        "ITK MetaImage reader: ideal = 10 : actual = 5",
        "ITK MetaImage reader: DimSize required and not defined.",
    ]
