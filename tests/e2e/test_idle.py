"""An idle pipeline sleeps: with no traffic, no service (nor the lag exporter) spends
more than a sliver of a core. The target is 0.5 % (``make bench-idle`` measures it over a
minute); this asserts 1 % over 20 s, generous for a loaded machine (they measured 0.05 to
0.25 % with a load average of 20 on two cores), but a service that polls its tables or
the broker several times a second is over it (each used 1.1 to 2.2 % before they slept)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench import idle
from tests import harness

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

BOUND = 0.01  # of one core


@pytest.fixture
def quiet_stack(private_namespace: harness.Namespace, tmp_path: Path) -> Iterator[dict[str, int]]:
    stack = harness.start_stack(private_namespace, tmp_path / "logs")
    watch = harness.start_lagwatch(private_namespace, tmp_path / "logs")
    try:
        yield idle.running(stack, watch)
    finally:
        watch.stop()
        stack.stop()


def test_idle_services_use_almost_no_cpu(quiet_stack: dict[str, int]) -> None:
    time.sleep(5)  # past start-up (migrations, the consumer groups' first rebalance)
    use = idle.measure(quiet_stack, 20)
    text, _ = idle.report(use, BOUND)
    assert set(use.seconds) == {*harness.SERVICES, "lagwatch"}, text
    over = {name: f"{use.share_of_a_core(name):.2%}" for name in use.seconds if use.share_of_a_core(name) > BOUND}
    assert not over, text
