"""Where collateral files live: the :class:`FileStore` port and its two adapters.

- :class:`FilesystemStore`, the embedded default: files under the service's data
  directory (``LEADBRIDGE_CONTENT_DATA_DIR``), written to a temporary name and renamed,
  so a reader never sees half a file.
- :class:`S3Store`, for production: any S3-compatible object store (AWS S3, MinIO,
  Ceph...) through boto3, whose blocking calls run in a worker thread.

Keys are content-addressed by the caller (``items/<item>/<version>/<sha256>``): a
version's file never changes once written.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path
from typing import Any, Protocol


class FileNotStored(LookupError):
    """No file under that key."""


class FileStore(Protocol):
    """Stores and returns files by key, byte for byte."""

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        """Store ``data`` under ``key`` (overwriting is allowed: keys are content-addressed)."""

    async def get(self, key: str) -> bytes:
        """The bytes stored under ``key``; raises :class:`FileNotStored`."""

    async def delete(self, key: str) -> None:
        """Remove the file under ``key`` (none there is no error): a personalised copy of
        an erased person's."""


class FilesystemStore:
    """Files under ``root`` (created on first write)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise ValueError(f"key escapes the store: {key!r}")
        return path

    def _write(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def _read(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise FileNotStored(key) from None

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        await asyncio.to_thread(self._write, key, data)

    async def get(self, key: str) -> bytes:
        return await asyncio.to_thread(self._read, key)

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._path(key).unlink, True)


class S3Store:
    """An S3-compatible bucket. ``client`` is a boto3 S3 client (made by :func:`s3_client`
    in production; a botocore ``Stubber`` wraps it in the unit tests)."""

    def __init__(self, client: Any, bucket: str, prefix: str = "") -> None:
        self.client, self.bucket, self.prefix = client, bucket, prefix

    def _put(self, key: str, data: bytes, content_type: str) -> None:
        import base64
        import hashlib
        md5 = base64.b64encode(hashlib.md5(data).digest()).decode()  # the store checks what arrived
        self.client.put_object(Bucket=self.bucket, Key=self.prefix + key, Body=data, ContentType=content_type,
                               ContentMD5=md5)

    def _get(self, key: str) -> bytes:
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=self.prefix + key)
        except self.client.exceptions.NoSuchKey:
            raise FileNotStored(key) from None
        body: bytes = answer["Body"].read()
        return body

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        await asyncio.to_thread(self._put, key, data, content_type)

    async def get(self, key: str) -> bytes:
        return await asyncio.to_thread(self._get, key)

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self.client.delete_object, Bucket=self.bucket, Key=self.prefix + key)


def s3_client(endpoint_url: str | None, region: str | None) -> Any:
    """A boto3 S3 client; credentials come from boto3's usual chain (environment,
    profile, instance role), never from Leadbridge's settings."""
    import boto3

    return boto3.client("s3", endpoint_url=endpoint_url or None, region_name=region or None)
