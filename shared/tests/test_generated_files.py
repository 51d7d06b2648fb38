"""The files derived from the topic registry and the services' subscriptions
(docs/asyncapi.yaml, the Helm chart's registry.yaml) are up to date.

tests/deploy checks them in full (the AsyncAPI CLI, helm, the schemas); this fast
comparison sits here because every merge runs the shared and services unit tests, so a
topic, event or subscription changed without `make generate` is caught before it lands."""

from __future__ import annotations

from pathlib import Path

import pytest

from deploy import generate

ROOT = Path(__file__).resolve().parents[2]


OUTPUTS = generate.outputs()


@pytest.mark.parametrize("path", list(OUTPUTS), ids=[p.name for p in OUTPUTS])
def test_generated_file_is_up_to_date(path: Path) -> None:
    assert path.read_text() == OUTPUTS[path], f"{path.relative_to(ROOT)} is stale: run `make generate` and commit it"
