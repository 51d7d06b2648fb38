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


def test_a_lead_taken_hot_from_inside_sales_frees_its_rep_once() -> None:
    org, rules = demo_docs()
    for team in org["teams"]:
        team["hours"] = "mon-sun 00:00-24:00"  # every inside-sales clock: 4 wall hours
    for rep in org["reps"]:
        rep.pop("hours", None)
        if rep["team"] == "inside_sales":
            rep["capacity"] = 1
    t = WEDNESDAY
    history = [(t, lead(f"B{i}", grade="B", company=f"C{i}")) for i in range(3)]  # one lead per inside rep
    history.append((t + timedelta(minutes=1), lead("B0", grade="A", hot=True, company="C0")))  # to the field
    history.append((t + timedelta(hours=1), lead("N0", grade="B", company="N0")))  # to B0's freed rep
    # B0's old clock runs out at t+4h: its rep now holds N0 (until t+5h) and must stay full.
    history += [(t + timedelta(hours=4, minutes=30), lead(f"X{i}", grade="B", company=f"X{i}")) for i in range(4)]
    spread = replay(compile_config(org, rules), history)
    assert spread.owners["queue:inside_sales"] == 2  # two reps free (B1's, B2's), not three
