"""The what-if replay: same code as live routing, private state, changed organisation."""

from __future__ import annotations

from datetime import timedelta

from services.routing.domain.config import compile_config
from services.routing.domain.whatif import peak_concurrency, replay
from services.routing.tests.factory import WEDNESDAY, demo_docs, lead


def history() -> list:  # type: ignore[type-arg]
    return [(WEDNESDAY + timedelta(minutes=i), lead(f"L{i}", grade="A", hot=True, country="GB",
                                                   segment="mid-tech-uk", company=f"C{i}"))
            for i in range(30)]


def test_removing_a_rep_moves_their_share_to_the_others() -> None:
    org, rules = demo_docs()
    before = replay(compile_config(org, rules), history())
    org["reps"] = [r for r in org["reps"] if r["id"] != "uk-am-1"]
    after = replay(compile_config(org, rules), history())
    assert before.owners["uk-am-1"] > 0 and after.owners["uk-am-1"] == 0
    assert sum(after.owners.values()) == sum(before.owners.values()) == 30
    assert after.owners["uk-am-2"] + after.owners["uk-am-3"] == 30
    assert after.teams == {"field": 30}


def test_a_lead_scored_again_while_owned_is_not_counted_twice() -> None:
    again = lead("L0", grade="A", hot=True, country="GB", segment="mid-tech-uk", company="C0")
    # Within its hot-lead clock (1 business hour in the demo rules): still owned.
    rescored = [*history(), (WEDNESDAY + timedelta(minutes=45), again)]
    assert sum(replay(compile_config(*demo_docs()), rescored).owners.values()) == 30


def test_peak_concurrency_counts_overlapping_windows_only() -> None:
    t = WEDNESDAY
    peak = peak_concurrency([("a", t, t + timedelta(hours=2)), ("a", t + timedelta(hours=1), t + timedelta(hours=3)),
                             ("a", t + timedelta(hours=3), t + timedelta(hours=4)), ("b", t, t + timedelta(hours=1))])
    assert peak == {"a": 2, "b": 1}
