"""Which files the library takes, told by their bytes, not by what the upload claims.

A declared content type is believed only when the file's own bytes (its magic number,
or for Office files the parts inside the zip) say the same: a PNG uploaded as
``application/pdf`` is refused, and so is a type the library does not take.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass

PDF = "application/pdf"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
PNG, JPEG, GIF, WEBP = "image/png", "image/jpeg", "image/gif", "image/webp"
TEXT, HTML = "text/plain", "text/html"

ACCEPTED: dict[str, str] = {PDF: "a PDF", PPTX: "a PowerPoint deck (PPTX)", DOCX: "a Word document (DOCX)",
                            PNG: "a PNG image", JPEG: "a JPEG image", GIF: "a GIF image", WEBP: "a WebP image",
                            TEXT: "a text template", HTML: "an HTML template"}
TEMPLATES = frozenset({TEXT, HTML})  # personalised per lead with merge fields


class WrongFile(ValueError):
    """The upload is not what it claims, or not a kind the library takes. ``unsupported``:
    the type itself is not taken (a 415); otherwise the bytes contradict it (a 422)."""

    def __init__(self, reason: str, *, unsupported: bool) -> None:
        super().__init__(reason)
        self.reason, self.unsupported = reason, unsupported


@dataclass(frozen=True)
class Sniffed:
    content_type: str

    @property
    def is_template(self) -> bool:
        return self.content_type in TEMPLATES


def _office(data: bytes) -> str | None:
    try:
        names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    except zipfile.BadZipFile:
        return None
    if "[Content_Types].xml" not in names:
        return None
    if any(n.startswith("ppt/") for n in names):
        return PPTX
    if any(n.startswith("word/") for n in names):
        return DOCX
    return None


def detect(data: bytes) -> str | None:
    """The accepted type these bytes are, or None (text is only recognised as text)."""
    if data.startswith(b"%PDF-"):
        return PDF
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if data.startswith(b"\xff\xd8\xff"):
        return JPEG
    if data.startswith((b"GIF87a", b"GIF89a")):
        return GIF
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return WEBP
    if data.startswith(b"PK\x03\x04"):
        return _office(data)
    return None


def _is_text(data: bytes) -> bool:
    if b"\x00" in data:
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def check(data: bytes, declared: str) -> Sniffed:
    """The upload's type if its bytes bear out the declared one; raises :class:`WrongFile`."""
    declared = declared.split(";")[0].strip().lower()
    if declared not in ACCEPTED:
        raise WrongFile(f"{declared or 'no content type'} is not taken; upload one of: {', '.join(ACCEPTED)}",
                        unsupported=True)
    if not data:
        raise WrongFile("the file is empty", unsupported=False)
    actual = detect(data)
    if declared in TEMPLATES:
        if actual is not None or not _is_text(data):
            raise WrongFile(f"declared {declared} but the bytes are {ACCEPTED.get(actual or '', 'not UTF-8 text')}",
                            unsupported=False)
        return Sniffed(declared)
    if actual != declared:
        what = ACCEPTED[actual] if actual is not None else "not a file of any accepted kind"
        raise WrongFile(f"declared {declared} ({ACCEPTED[declared]}) but the bytes are {what}", unsupported=False)
    return Sniffed(actual)
