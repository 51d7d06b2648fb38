"""What a file is (by its bytes), personalised copies, and the year's dates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.content.domain import files, personalise, retirement
from services.content.tests import samples


def test_files_are_told_by_their_bytes() -> None:
    assert files.check(samples.pdf("x"), "application/pdf").content_type == files.PDF
    assert files.check(samples.docx("x"), files.DOCX).content_type == files.DOCX
    assert files.check(samples.pptx("x"), files.PPTX).content_type == files.PPTX
    assert files.check(samples.png(), "image/png").content_type == files.PNG
    assert files.check(b"Hello {{ prospect }}", "text/plain; charset=utf-8").is_template


@pytest.mark.parametrize(("data", "declared", "unsupported"), [
    (samples.png(), files.PDF, False),            # a PNG claiming to be a PDF
    (samples.docx("x"), files.PPTX, False),       # a Word file claiming to be a deck
    (b"just text", files.PDF, False),
    (samples.pdf("x"), files.TEXT, False),        # a PDF is not a text template
    (b"MZ\x90\x00", "application/x-msdownload", True),
    (samples.pdf("x"), "", True),
    (b"", files.PDF, False),
])
def test_a_file_that_is_not_what_it_claims_or_not_taken_is_refused(data: bytes, declared: str,
                                                                   unsupported: bool) -> None:
    with pytest.raises(files.WrongFile) as wrong:
        files.check(data, declared)
    assert wrong.value.unsupported is unsupported


def test_templates_fill_the_merge_fields_and_escape_them_in_html() -> None:
    fields = personalise.MergeFields(prospect="Ada", company="<Acme & Co>", rep="Rex")
    assert personalise.render("Hi {{ prospect }} at {{ company }}, {{ rep }}", files.TEXT, fields) == \
        "Hi Ada at <Acme & Co>, Rex"
    assert personalise.render("<p>{{ company }}</p>", files.HTML, fields) == "<p>&lt;Acme &amp; Co&gt;</p>"
    with pytest.raises(personalise.BadTemplate):
        personalise.render("Hi {{ budget }}", files.TEXT, fields)  # not a merge field
    with pytest.raises(personalise.BadTemplate):
        personalise.render("{{ ''.__class__.__mro__[1].__subclasses__() }}", files.TEXT, fields)  # the sandbox


def test_an_item_retires_a_year_after_publishing_with_warnings_four_and_two_weeks_before() -> None:
    published = datetime(2026, 1, 1, tzinfo=UTC)
    at = retirement.retire_at(published)
    assert at == published + timedelta(days=365)
    assert retirement.warning_due(at, None, at - timedelta(weeks=5)) is None
    assert retirement.warning_due(at, None, at - timedelta(weeks=4)) == 4
    assert retirement.warning_due(at, 4, at - timedelta(weeks=3)) is None
    assert retirement.warning_due(at, 4, at - timedelta(weeks=2)) == 2
    assert retirement.warning_due(at, None, at - timedelta(days=1)) == 2  # late: only the nearest
    assert retirement.warning_due(at, 2, at - timedelta(days=1)) is None
    assert retirement.warning_due(at, None, at) is None  # retirement itself is due
