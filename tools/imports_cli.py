"""Upload a list to capture and watch it import (an operator's tool, run from the
repository with the development requirements installed):

    python -m tools.imports_cli upload FILE --source list_import --campaign expo-2026 \\
        [--mapping '{"email": "Email", ...}' | --mapping mapping.json] [--url http://127.0.0.1:8001] \\
        [--token TOKEN]

The token (a marketing or operator one; default ``$LEADBRIDGE_TOKEN``) is sent as
``Authorization: Bearer``: ``python -m shared.auth token --key PEM --subject me --roles marketing``
mints one with the demo's key.

Without ``--mapping`` the source's saved mapping is used. Shows a progress bar (rich)
while polling ``GET /v1/imports/{id}``, then the counts and the first rejected rows."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn


def _mapping(value: str | None) -> str | None:
    if value is None:
        return None
    path = Path(value)
    text = path.read_text() if path.is_file() else value
    json.loads(text)  # fail here, not on the server, for a typo
    return text


def upload(args: argparse.Namespace, console: Console) -> int:
    path = Path(args.file)
    data = {"source": args.source, "campaign": args.campaign}
    mapping = _mapping(args.mapping)
    if mapping is not None:
        data["mapping"] = mapping
    headers = {"authorization": f"Bearer {args.token}"} if args.token else {}
    with httpx.Client(base_url=args.url, timeout=120, headers=headers) as client:
        with path.open("rb") as f:
            r = client.post("/v1/imports", data=data, files={"file": (path.name, f)})
        if r.status_code >= 400:
            body = r.json()
            for field in body.get("fields", []):
                console.print(f"[red]refused[/red] {field['field']}: {field['reason']}")
            return 1
        import_id = r.json()["import_id"]
        console.print(f"import {import_id}" + (" (this file was imported already)" if r.status_code == 200 else ""))
        progress: dict[str, Any] = client.get(f"/v1/imports/{import_id}").json()
        # Two bars: every record validated first (its fate and the report known), then the
        # accepted ones captured as leads.
        with Progress(TextColumn("[bold]{task.description:>10}"), BarColumn(), MofNCompleteColumn(),
                      TextColumn("{task.fields[note]}"), TimeRemainingColumn(), console=console) as bar:
            checked = bar.add_task("validated", total=progress["rows"], note="")
            leads = bar.add_task("captured", total=None, note="")
            while True:
                bar.update(checked, completed=progress["rows_read"],
                           note=f"accepted {progress['accepted']} rejected {progress['rejected']}")
                to_capture = progress["accepted"] - progress["duplicates_in_file"]
                bar.update(leads, total=to_capture if progress["phase"] != "validating" else None,
                           completed=progress["new_leads"] + progress["known_people"],
                           note=f"new leads {progress['new_leads']} known people {progress['known_people']}")
                if progress["status"] == "done":
                    break
                time.sleep(args.poll_s)
                progress = client.get(f"/v1/imports/{import_id}").json()
        report = client.get(f"/v1/imports/{import_id}/rejections").json()
    console.print(f"rows {progress['rows']}: accepted {progress['accepted']} (new leads {progress['new_leads']}, "
                  f"known people {progress['known_people']}, duplicates within the file "
                  f"{progress['duplicates_in_file']}), rejected {progress['rejected']}")
    for rejection in report["rejections"][:args.show]:
        console.print(f"  line {rejection['line']}: {rejection['field']}: {rejection['reason']}")
    if len(report["rejections"]) > args.show:
        console.print(f"  ... all of them: {args.url}/v1/imports/{import_id}/rejections?format=csv")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.imports_cli")
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("upload", help="upload a CSV or JSONL list and show its progress")
    up.add_argument("file")
    up.add_argument("--source", required=True)
    up.add_argument("--campaign", required=True)
    up.add_argument("--mapping", help="JSON (lead field -> column), or a file holding it; default: the saved one")
    up.add_argument("--url", default="http://127.0.0.1:8001")
    up.add_argument("--token", default=os.environ.get("LEADBRIDGE_TOKEN", ""),
                    help="a marketing or operator bearer token (default: $LEADBRIDGE_TOKEN)")
    up.add_argument("--poll-s", type=float, default=0.5)
    up.add_argument("--show", type=int, default=20, help="rejected rows to print")
    args = parser.parse_args(argv)
    return upload(args, Console())


if __name__ == "__main__":
    sys.exit(main())
