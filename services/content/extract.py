"""The text inside an uploaded file, for full-text search: PDFs with pypdf, Word and
PowerPoint files with python-docx and python-pptx, templates as they are. Images have
no text. A file a library cannot read yields no text (it is still stored and served)."""

from __future__ import annotations

import io
import logging

from services.content.domain import files

log = logging.getLogger(__name__)

MAX_CHARS = 200_000  # enough to find a document by; keeps the tsvector within PostgreSQL's limit


def _pdf(data: bytes) -> str:
    from pypdf import PdfReader

    return "\n".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(data)).pages)


def _docx(data: bytes) -> str:
    import docx

    document = docx.Document(io.BytesIO(data))
    cells = [c.text for t in document.tables for row in t.rows for c in row.cells]
    return "\n".join([p.text for p in document.paragraphs] + cells)


def _pptx(data: bytes) -> str:
    from pptx import Presentation

    texts = []
    for slide in Presentation(io.BytesIO(data)).slides:
        for shape in slide.shapes:
            if shape.has_text_frame:
                texts.append(shape.text_frame.text)
    return "\n".join(texts)


def text_of(data: bytes, content_type: str) -> str:
    """The file's text (at most :data:`MAX_CHARS`), or "" when it has none or cannot be read."""
    readers = {files.PDF: _pdf, files.DOCX: _docx, files.PPTX: _pptx,
               files.TEXT: lambda d: d.decode("utf-8"), files.HTML: lambda d: d.decode("utf-8")}
    reader = readers.get(content_type)
    if reader is None:
        return ""
    try:
        return reader(data)[:MAX_CHARS].replace("\x00", "")
    except Exception as exc:  # a damaged file is kept; it is only not searchable by its text
        log.warning("could not read the text of an upload", extra={"content_type": content_type, "error": repr(exc)})
        return ""
