"""Reading organisation and rule documents from YAML files (the seed, the what-if input).

An org file holds either the organisation alone, or ``org:`` and ``rules:`` together; a
rules file holds a rule set (``rules:`` list and ``fallback_team``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


class DocumentError(ValueError):
    """A file that cannot be read as an organisation or rule document."""


def _load(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise DocumentError(f"{path}: {exc}") from exc
    if not isinstance(data, dict):
        raise DocumentError(f"{path}: expected a mapping at the top level")
    return data


def read_org_file(path: Path) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """(organisation, rules or None) from an org file."""
    data = _load(path)
    if "org" in data:
        return data["org"], data.get("rules")
    return data, None


def read_rules_file(path: Path) -> dict[str, Any]:
    """A rule set from a rules file (or from the ``rules:`` part of a combined file)."""
    data = _load(path)
    if "org" in data and "rules" in data:
        return dict(data["rules"])
    return data


def default_rules_path(org_file: Path) -> Path:
    """Where the rules live when the org file has none: ``rules.yaml`` beside it."""
    return org_file.with_name("rules.yaml")
