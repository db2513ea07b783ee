"""The runtime reads tables from paths, file://, http(s):// and s3:// (a moto server here)."""

from __future__ import annotations

import boto3
import pandas as pd
import pytest

from cloudauto.runtime.data import DataError, read_table

FRAME = pd.DataFrame({"a": [1, 2, 3], "label": ["x", "y", "x"]})


def test_path_relative_to_the_spec_folder_and_file_uri(tmp_path):
    (tmp_path / "d").mkdir()
    FRAME.to_csv(tmp_path / "d" / "t.csv", index=False)
    pd.testing.assert_frame_equal(read_table("d/t.csv", str(tmp_path)), FRAME)
    pd.testing.assert_frame_equal(read_table(f"file://{tmp_path}/d/t.csv"), FRAME)
    FRAME.to_parquet(tmp_path / "t.parquet")
    pd.testing.assert_frame_equal(read_table(str(tmp_path / "t.parquet")), FRAME)


def test_http(http_dir):
    folder, url = http_dir
    FRAME.to_csv(folder / "t.csv", index=False)
    pd.testing.assert_frame_equal(read_table(f"{url}/t.csv"), FRAME)
    with pytest.raises(DataError, match="404"):
        read_table(f"{url}/missing.csv")


def test_s3_through_boto3(aws):
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="cloudauto-data")
    s3.put_object(Bucket="cloudauto-data", Key="iris/t.csv", Body=FRAME.to_csv(index=False).encode())
    pd.testing.assert_frame_equal(read_table("s3://cloudauto-data/iris/t.csv"), FRAME)
    with pytest.raises(DataError, match="s3://cloudauto-data/nope.csv: cannot read"):
        read_table("s3://cloudauto-data/nope.csv")


def test_clear_errors(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        read_table(str(tmp_path / "none.csv"))
    with pytest.raises(DataError, match="not azureml://"):
        read_table("azureml://datastores/x/paths/y.csv")
    (tmp_path / "bad.parquet").write_bytes(b"not parquet")
    with pytest.raises(DataError, match="not a readable table"):
        read_table(str(tmp_path / "bad.parquet"))
