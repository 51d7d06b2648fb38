from services.nurture.domain.tracks import status_after_scored
from shared.events import GRADES, SALES_GRADES


def test_only_sales_grades_return_to_sales() -> None:
    ready = [g for g in GRADES if status_after_scored("nurturing", g) == "ready-for-sales"]
    assert ready == ["A", "B"]
    assert set(ready) == SALES_GRADES  # the one statement routing takes leads back by


def test_a_nurtured_lead_that_grades_for_sales_is_ready_once() -> None:
    assert status_after_scored("nurturing", "B") == "ready-for-sales"
    assert status_after_scored("nurturing", "C") is None
    assert status_after_scored("ready-for-sales", "A") is None
    assert status_after_scored("returned-to-sales", "A") is None
