"""The file store adapters. The filesystem one against a real directory; the S3 one
against botocore's Stubber: it checks the requests boto3 would send (bucket, key,
body, content type, checksum) and answers them, with no network and no S3. It is not
run against a real S3-compatible store here (none is installed on this machine)."""

from __future__ import annotations

import base64
import hashlib
import io
from pathlib import Path

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber

from services.content.storage import FileNotStored, FilesystemStore, S3Store


async def test_the_filesystem_store_gives_back_the_same_bytes_and_refuses_escaping_keys(tmp_path: Path) -> None:
    store = FilesystemStore(tmp_path / "files")
    data = bytes(range(256)) * 100
    await store.put("items/i1/1/abc", data, "application/pdf")
    assert await store.get("items/i1/1/abc") == data
    assert not list((tmp_path / "files" / "items" / "i1" / "1").glob(".upload-*"))  # no temporary left behind
    with pytest.raises(FileNotStored):
        await store.get("items/i1/2/abc")
    with pytest.raises(ValueError):
        await store.put("../outside", b"x", "text/plain")


def _client() -> object:
    return boto3.client("s3", region_name="eu-west-1", endpoint_url="http://s3.invalid",
                        aws_access_key_id="test", aws_secret_access_key="test")


async def test_the_s3_store_puts_with_its_type_and_checksum_and_gets_the_body() -> None:
    client = _client()
    data = b"%PDF-1.4 a file"
    with Stubber(client) as stub:
        stub.add_response("put_object", {}, {
            "Bucket": "collateral", "Key": "prod/items/i1/1/abc", "Body": data, "ContentType": "application/pdf",
            "ContentMD5": base64.b64encode(hashlib.md5(data).digest()).decode()})
        stub.add_response("get_object", {"Body": StreamingBody(io.BytesIO(data), len(data))},
                          {"Bucket": "collateral", "Key": "prod/items/i1/1/abc"})
        stub.add_client_error("get_object", service_error_code="NoSuchKey", http_status_code=404,
                              expected_params={"Bucket": "collateral", "Key": "prod/items/missing"})
        store = S3Store(client, "collateral", "prod/")
        await store.put("items/i1/1/abc", data, "application/pdf")
        assert await store.get("items/i1/1/abc") == data
        with pytest.raises(FileNotStored):
            await store.get("items/missing")
        stub.assert_no_pending_responses()
