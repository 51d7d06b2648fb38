"""Print the demo's sign-ins (deploy/demo/accounts.yaml, as the app seeds them): what
`make run` shows so that anyone can try each role's pages."""

from __future__ import annotations

import sys
from pathlib import Path

from services.app.handlers import read_seed


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("accounts.yaml")
    seeds = read_seed(path)
    width = max(len(s.username) for s in seeds)
    for role in ("rep", "manager", "marketing", "sales_approver", "operator"):
        people = [s for s in seeds if role in s.roles]
        if not people:
            continue
        shown = people if role != "rep" else people[:3]
        for s in shown:
            scope = f"rep {s.rep_id}" if s.rep_id else (f"team {', '.join(s.teams)}" if s.teams else "")
            print(f"  {s.username:<{width}}  {s.password:<20} {role:<15} {s.name}{f' ({scope})' if scope else ''}")
        if len(people) > len(shown):
            print(f"  {'...':<{width}}  {people[0].password:<20} {role:<15} and {len(people) - len(shown)} more reps "
                  f"({', '.join(s.username for s in people[len(shown):])})")


if __name__ == "__main__":
    main()
