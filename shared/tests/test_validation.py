"""The email check every ``EmailStr`` makes, with the domain part memoised
(:func:`shared.validation._memoise_email_domain_checks`)."""

from __future__ import annotations

import importlib

import pytest
from pydantic import BaseModel, EmailStr, ValidationError

import shared.validation  # noqa: F401  (memoises on import)


class Person(BaseModel):
    email: EmailStr


def test_the_domain_check_email_validator_calls_is_memoised_and_answers_as_before() -> None:
    check = importlib.import_module("email_validator.validate_email").validate_email_domain_name
    assert hasattr(check, "cache_info"), "email-validator no longer calls the check through this global"
    before = check.cache_info()
    for i in range(50):
        assert Person(email=f"p{i}@Example.ORG").email == f"p{i}@example.org"
    after = check.cache_info()
    assert after.hits - before.hits >= 49, "one check for one domain"
    for bad in ("p@exa mple.org", "p@-example.org", "p@localhost", "p@example"):
        with pytest.raises(ValidationError):
            Person(email=bad)
