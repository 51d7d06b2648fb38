"""What a key lets a source post."""

import pytest

from services.capture.domain.scope import KeyScope, OutOfScope, campaign_within


def test_a_key_posts_for_its_source_and_its_campaign_only() -> None:
    scanner = KeyScope("badge_scan", "expo-2026")
    assert campaign_within(scanner, "badge_scan", "expo-2026") == "expo-2026"
    assert campaign_within(scanner, "badge_scan", None) == "expo-2026"  # the form's campaign
    assert campaign_within(scanner, None, None) == "expo-2026"  # an activity names no source
    with pytest.raises(OutOfScope) as caught:
        campaign_within(scanner, "web_form", "expo-2026")
    assert caught.value.field == "source" and "badge_scan" in caught.value.reason
    with pytest.raises(OutOfScope) as caught:
        campaign_within(scanner, "badge_scan", "webinar-series", campaign_field="campaign_id")
    assert caught.value.field == "campaign_id"


def test_a_key_without_a_campaign_posts_for_any_and_a_bootstrap_key_for_any_source() -> None:
    assert campaign_within(KeyScope("web_form"), "web_form", "webinar-series") == "webinar-series"
    assert campaign_within(KeyScope("web_form"), "web_form", None) is None
    assert campaign_within(KeyScope("*"), "referral", "expo-2026") == "expo-2026"
