from __future__ import annotations

from pathlib import Path
from typing import Literal, Self

from pydantic import model_validator

from services.content.domain.upkeep import Thresholds
from shared.settings import ServiceSettings

_UPKEEP = Thresholds()  # the upkeep report's defaults are the domain's; settings only name them


class ContentSettings(ServiceSettings):
    service_name: str = "content"
    http_port: int = 8005
    # Where uploaded files live: "filesystem" (under data_dir, the embedded default) or
    # "s3" (any S3-compatible store; credentials from boto3's own chain: AWS_* variables,
    # a profile or an instance role).
    storage: Literal["filesystem", "s3"] = "filesystem"
    data_dir: Path = Path("var/content")
    s3_bucket: str = ""
    s3_prefix: str = ""
    s3_endpoint_url: str = ""
    s3_region: str = ""
    # Uploads over this size are refused (413 naming the file). The request body limit is
    # raised to let them through (a multipart body holds the file and a few form fields).
    max_upload_bytes: int = 25 * 1024 * 1024
    max_body_bytes: int = 25 * 1024 * 1024 + 64 * 1024
    # The approval policy, as data: how many approvals of each sales role publishing
    # needs (LEADBRIDGE_APPROVAL_POLICY='{"field_rep": 1, "sales_manager": 1}').
    approval_policy: dict[Literal["field_rep", "inside_rep", "sales_manager"], int] = {"field_rep": 1,
                                                                                        "sales_manager": 1}
    # An item retires this long after its last published revision; its owner is warned
    # 4 and 2 weeks before. The timer looks for due work this often.
    retire_after_days: float = 365.0
    retirement_every_s: float = 60.0
    gauges_every_s: float = 15.0
    @model_validator(mode="after")
    def _body_fits_an_upload(self) -> Self:
        # an upload at the limit must reach the route, which names the file when it is over
        self.max_body_bytes = max(self.max_body_bytes, self.max_upload_bytes + 64 * 1024)
        return self

    # TESTS ONLY: a clock that POST /v1/admin/clock moves forward (404 when off).
    test_clock: bool = False

    # collateral in use: how often effectiveness is re-measured, and the report's thresholds
    # (LEADBRIDGE_REVISE_BELOW and so on; each defaults to the domain's `Thresholds`)
    effectiveness_every_s: float = 60.0
    revise_below: float = _UPKEEP.revise_below  # mean rating under which an item is to revise
    revise_min_ratings: int = _UPKEEP.min_ratings
    prune_unused_days: int = _UPKEEP.unused_days
    expand_win_rate: float = _UPKEEP.expand_win_rate
    expand_min_deals: int = _UPKEEP.min_deals
    expand_few_items: int = _UPKEEP.few_items
    one_message_outlier_below: float = 0.2

    def upkeep_thresholds(self) -> Thresholds:
        """The upkeep report's thresholds, as configured."""
        return Thresholds(revise_below=self.revise_below, min_ratings=self.revise_min_ratings,
                          unused_days=self.prune_unused_days, expand_win_rate=self.expand_win_rate,
                          min_deals=self.expand_min_deals, few_items=self.expand_few_items)
