"""The step machine, the tracks' validation and entry rules, business days, templates,
and the sending rules: pure, no I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from services.nurture.domain.calendar import BusinessCalendar
from services.nurture.domain.mail import Limits, Recipient, compose, decide_send, track_links
from services.nurture.domain.programs import (
    CreateTask,
    EmailTemplate,
    Entry,
    LeadFacts,
    SendEmail,
    TrackDefinition,
    check_references,
    choose_track,
    render,
    run_from,
)
from services.nurture.domain.webinars import no_show_due, pre_event_call_due
from shared.events import GRADES, NurtureReason

MON = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday
CAL = BusinessCalendar()
SEED = Path(__file__).resolve().parents[3] / "deploy" / "demo" / "tracks.yaml"


def seed_tracks() -> list[TrackDefinition]:
    return [TrackDefinition.model_validate(d) for d in yaml.safe_load(SEED.read_text())["tracks"]]


def email(step_id: str) -> dict[str, object]:
    return {"id": step_id, "kind": "email",
            "email": {"subject": "Hi {{ first_name }}", "text": "t", "html": "<p>h</p>"}}


def track(*steps: dict[str, object], **more: object) -> TrackDefinition:
    return TrackDefinition.model_validate({"name": "t", "steps": list(steps), **more})


def test_the_seed_tracks_validate_and_reference_each_other() -> None:
    tracks = seed_tracks()
    assert {t.name for t in tracks} >= {"long-term", "re-engage", "recycle", "cold", "no-show"}
    assert check_references(tracks) == []


def test_entry_rules_give_the_tracks_routings_reasons_used_to_give() -> None:
    tracks = seed_tracks()

    def chosen(reason: NurtureReason, grade: str, status: str | None = None) -> str | None:
        t = choose_track(tracks, Entry(reason, grade, "smb-tech-eu", ("smb", "tech", "eu"), "c", status))  # type: ignore[arg-type]
        return t.name if t else None

    assert {chosen(NurtureReason.MISSED_FOLLOW_UP, g) for g in GRADES} == {"re-engage"}
    assert chosen(NurtureReason.DISQUALIFIED, "C") == "recycle"
    assert chosen(NurtureReason.LOW_GRADE, "C") == "long-term"
    assert chosen(NurtureReason.LOW_GRADE, "D") == "cold"
    assert chosen(NurtureReason.KEPT_BY_RULE, "A") == "long-term"
    # a campaign member status enrols only on a track that names it
    assert chosen(None, "C", "no_show") == "no-show"  # type: ignore[arg-type]
    assert chosen(None, "C", "attended") is None  # type: ignore[arg-type]


def test_entry_rules_match_segments_by_name_or_part_and_campaigns() -> None:
    vip = track(email("a"), entry={"segments": ["enterprise"], "campaigns": ["summit"]}, priority=1)
    rest = track(email("a"), name="rest")
    assert choose_track([vip, rest], Entry(NurtureReason.LOW_GRADE, "C", "enterprise-tech", ("enterprise", "tech"),
                                           "summit")) is vip
    assert choose_track([vip, rest], Entry(NurtureReason.LOW_GRADE, "C", "smb", ("smb",), "summit")) is rest
    assert choose_track([vip, rest], Entry(NurtureReason.LOW_GRADE, "C", "enterprise", ("enterprise",), None)) is rest


def test_bad_tracks_are_refused_naming_the_problem() -> None:
    with pytest.raises(ValidationError, match="unknown merge field"):
        track({"id": "a", "kind": "email", "email": {"subject": "{{ salary }}", "text": "t", "html": "h"}})
    with pytest.raises(ValidationError, match="goto 'nowhere' names no step"):
        track(email("a"), {"id": "b", "kind": "branch", "when": {"engaged": True}, "goto": "nowhere"})
    with pytest.raises(ValidationError, match="unique"):
        track(email("a"), email("a"))
    with pytest.raises(ValidationError, match="business_days"):
        track({"id": "w", "kind": "wait", "business_days": 0})
    with pytest.raises(ValidationError):
        track()
    assert check_references([track(email("a"), then={"action": "next", "track": "gone"})]) == [
        "t.then.track: no track 'gone'"]


def test_a_firing_runs_up_to_the_next_wait_and_sets_the_timer_in_business_days() -> None:
    t = track(email("hello"), {"id": "w", "kind": "wait", "business_days": 3},
              {"id": "call", "kind": "task", "title": "Call", "due_business_days": 1})
    friday = MON + timedelta(days=4)
    first = run_from(t, 0, LeadFacts("C"), friday, CAL)
    assert [type(a) for a in first.actions] == [SendEmail]
    assert (first.outcome, first.next_index, first.due_at) == ("waiting", 2, friday + timedelta(days=5))  # Wed
    second = run_from(t, 2, LeadFacts("C"), first.due_at, CAL)  # type: ignore[arg-type]
    assert second.outcome == "completed"
    (task,) = second.actions
    assert isinstance(task, CreateTask) and task.due_at == friday + timedelta(days=6)


def test_branches_follow_engagement_and_grade() -> None:
    t = track({"id": "b", "kind": "branch", "when": {"engaged": True}, "goto": "warm"}, email("cold"),
              {"id": "w", "kind": "wait", "business_days": 1}, email("warm"))
    assert [a.step_id for a in run_from(t, 0, LeadFacts("C", engaged=True), MON, CAL).actions] == ["warm"]
    assert [a.step_id for a in run_from(t, 0, LeadFacts("C"), MON, CAL).actions] == ["cold"]
    g = track({"id": "b", "kind": "branch", "when": {"grade_in": ["D"]}, "goto": "d"}, email("c"),
              {"id": "w", "kind": "wait", "business_days": 1}, email("d"))
    assert [a.step_id for a in run_from(g, 0, LeadFacts("D"), MON, CAL).actions] == ["d"]


def test_a_branch_loop_without_a_wait_waits_a_day_instead_of_spinning() -> None:
    t = track(email("a"), {"id": "b", "kind": "branch", "when": {"engaged": True}, "goto": "a"})
    p = run_from(t, 0, LeadFacts("C", engaged=True), MON, CAL)
    assert (len(p.actions), p.outcome, p.next_index, p.due_at) == (1, "waiting", 0, MON + timedelta(days=1))


@pytest.mark.parametrize(("facts", "reason"), [(LeadFacts("B"), "sales-grade"), (LeadFacts("A"), "sales-grade"),
                                               (LeadFacts("C", unsubscribed=True), "unsubscribed"),
                                               (LeadFacts("C", replied=True), "replied")])
def test_exit_rules_come_before_any_step(facts: LeadFacts, reason: str) -> None:
    p = run_from(track(email("a")), 0, facts, MON, CAL)
    assert (p.actions, p.outcome, p.exit_reason) == ((), "exited", reason)


def test_a_track_may_keep_replying_leads() -> None:
    p = run_from(track(email("a"), exit={"replied": False}), 0, LeadFacts("C", replied=True), MON, CAL)
    assert p.outcome == "completed" and len(p.actions) == 1


def test_business_days_skip_weekends_and_a_compressed_calendar_has_none() -> None:
    saturday = MON + timedelta(days=5)
    assert CAL.add_business_days(saturday, 0) == MON + timedelta(days=7)
    assert CAL.add_business_days(saturday, 1) == MON + timedelta(days=8)
    assert CAL.add_business_days(MON, 5) == MON + timedelta(days=7)
    assert BusinessCalendar(2.0).add_business_days(saturday, 3) == saturday + timedelta(seconds=6)


def test_templates_fill_merge_fields_escaping_html_only() -> None:
    t = EmailTemplate(subject="Hi {{ first_name }}", text="{{company}} <3", html="<b>{{ company }}</b>")
    r = render(t, {"first_name": "Ada", "company": "A&B <Ltd>"})
    assert (r.subject, r.text, r.html) == ("Hi Ada", "A&B <Ltd> <3", "<b>A&amp;B &lt;Ltd&gt;</b>")


def test_links_go_through_the_redirect_except_unsubscribe_and_html_gets_a_pixel() -> None:
    r = render(EmailTemplate(subject="s", text="see https://x.example/a and {{ unsubscribe_url }}",
                             html='<a href="https://x.example/a?q=1&amp;r=2">a</a> '
                                  '<a href="{{ unsubscribe_url }}">u</a>'),
               {"unsubscribe_url": "https://n.example/unsub/m1"})
    tracked = track_links(r, "https://n.example/r/m1", "https://n.example/o/m1.gif",
                          keep={"https://n.example/unsub/m1"})
    assert tracked.links == ("https://x.example/a", "https://x.example/a?q=1&r=2")
    assert tracked.text == "see https://n.example/r/m1/0 and https://n.example/unsub/m1"
    assert 'href="https://n.example/r/m1/1"' in tracked.html and "https://n.example/unsub/m1" in tracked.html
    assert 'src="https://n.example/o/m1.gif"' in tracked.html


def test_the_message_has_both_bodies_a_stable_id_and_one_click_unsubscribe() -> None:
    url = "https://nurture.leadbridge.example/v1/nurture/unsubscribe/2c7b0c2e-1a3b-5e0f-9d8c-0123456789ab"
    msg = compose(message_id="m1", sender="M <m@x.example>", to="ada@y.example", subject="Hi", text="t",
                  html="<p>h</p>", unsubscribe_url=url, domain="x.example", at=MON)
    assert msg["Message-ID"] == "<m1@x.example>"
    assert f"\r\nList-Unsubscribe: <{url}>\r\n".encode() in msg.as_bytes()  # one plain line, as clients read it
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]


LIMITS = Limits(per_day=1, per_week=3)
OK = Recipient("ada@y.example", True, False)


def test_sending_needs_consent_and_no_unsubscribe_at_that_moment() -> None:
    assert decide_send(OK, [], LIMITS, MON, MON).action == "send"
    assert decide_send(Recipient("a@y.example", False, False), [], LIMITS, MON, MON).reason == "no-consent"
    assert decide_send(Recipient("a@y.example", None, False), [], LIMITS, MON, MON).reason == "no-consent"
    assert decide_send(Recipient("a@y.example", True, True), [], LIMITS, MON, MON).reason == "unsubscribed"


def test_an_unknown_recipient_is_waited_for_then_suppressed() -> None:
    waiting = decide_send(None, [], LIMITS, MON, MON + timedelta(minutes=5))
    assert (waiting.action, waiting.until) == ("defer", MON + timedelta(minutes=5, seconds=5))
    assert decide_send(None, [], LIMITS, MON, MON + timedelta(hours=2)).reason == "unknown-contact"


def test_the_per_person_limit_defers_until_the_window_allows() -> None:
    now = MON + timedelta(days=3)
    d = decide_send(OK, [now - timedelta(hours=2)], LIMITS, now, now)
    assert (d.action, d.reason, d.until) == ("defer", "daily-limit", now + timedelta(hours=22))
    week = [now - timedelta(days=3), now - timedelta(days=2), now - timedelta(days=1, hours=1)]
    d = decide_send(OK, week, LIMITS, now, now)
    assert (d.action, d.reason, d.until) == ("defer", "weekly-limit", now + timedelta(days=4))
    assert decide_send(OK, [now - timedelta(days=8)] * 5, LIMITS, now, now).action == "send"


def test_a_pre_event_call_is_due_before_the_start_and_never_after_it() -> None:
    start = MON + timedelta(days=7)
    lead, soonest = timedelta(hours=2), timedelta(minutes=15)
    assert pre_event_call_due(start, MON, lead, soonest) == start - lead
    late = start - timedelta(hours=1)
    assert pre_event_call_due(start, late, lead, soonest) == late + soonest
    last_minute = start - timedelta(minutes=5)
    assert pre_event_call_due(start, last_minute, lead, soonest) == start
    assert pre_event_call_due(start, start, lead, soonest) is None
    assert no_show_due(start + timedelta(hours=1), timedelta(minutes=30)) == start + timedelta(hours=1, minutes=30)


def test_a_no_show_track_may_keep_leads_sales_owns() -> None:
    no_show = next(t for t in seed_tracks() if t.name == "no-show")
    p = run_from(no_show, 0, LeadFacts("B"), MON, CAL)
    assert [a.step_id for a in p.actions] == ["recording"]
    assert run_from(track(email("a")), 0, LeadFacts("B"), MON, CAL).exit_reason == "sales-grade"
