"""Schemathesis, stateless and stateful, against every service's OpenAPI document, on
real processes in a private namespace: no 5xx, and every status code, content type and
body as documented. A short pass here (at least 200 cases per service); ``make fuzz``
runs the long one (tests/fuzz/runner.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import harness
from tests.fuzz.runner import fuzz_stack, table

pytestmark = [pytest.mark.e2e, pytest.mark.fuzz]

# Per operation. Coverage cases come on top, more for operations with more fields, so
# services with few operations (nurture) get more generated ones to reach MIN_CASES.
MAX_EXAMPLES = {"capture": 3, "scoring": 12, "routing": 10, "nurture": 5, "content": 4, "app": 15}
MIN_CASES = 200


@pytest.fixture(scope="module")
def fuzz_target(infra: harness.Infra, tmp_path_factory: pytest.TempPathFactory) -> Iterator[harness.Stack]:
    """The six services on a namespace of their own: fuzzing replaces the routing
    organisation and fills every table, which no other test should see."""
    ns = harness.open_namespace(infra, "fz")
    stack = harness.start_stack(ns, tmp_path_factory.mktemp("fuzz-logs"))
    yield stack
    stack.stop()
    harness.close_namespace(ns)


def test_every_service_answers_as_its_openapi_document_says(fuzz_target: harness.Stack, tmp_path: Path) -> None:
    outcomes = fuzz_stack(fuzz_target, tmp_path, max_examples=MAX_EXAMPLES)
    print(table(outcomes))
    failed = {o.service: o.output[-4000:] for o in outcomes if not o.ok}
    assert not failed, table(outcomes) + "\n" + "\n".join(f"===== {s}\n{out}" for s, out in failed.items())
    assert all(o.cases >= MIN_CASES for o in outcomes), table(outcomes)
