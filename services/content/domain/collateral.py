"""What a collateral item is tagged with. The lifecycle is ``lifecycle.py``; an item
suits a lead when it is live (a published version, neither retired nor withdrawn:
the year's timer retires stale ones) and tagged for the lead's segment and stage, an
item with no tag of a kind suiting every value of it."""

from __future__ import annotations

from typing import Literal

Kind = Literal["case_study", "value_proposition", "proof_point", "deck", "one_pager", "video", "battlecard"]
Stage = Literal["awareness", "consideration", "decision", "onboarding"]
