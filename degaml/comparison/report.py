"""A table that `degaml reproduce` wrote (table1.json, table2.json, heldout.json), read back and narrowed to some
rows — what `degaml report` renders. Reads only the JSON: no spec, no data, no model.

    load_table(path)          the table, checked for what rendering needs (a bad file: one line naming it)
    select_rows(table, rows)  the same table with only `rows` (in that order) and the Δ rows between them
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from degaml.comparison.tables import LABELS
from degaml.errors import DegamlError

NEEDED = ("title", "tasks", "rows", "deltas")


def load_table(path: Path) -> dict[str, Any]:
    """The table JSON at `path`; a missing, unreadable or foreign file raises a one-line `DegamlError` naming it."""
    try:
        table = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DegamlError(f"{path}: no such file (a table JSON written by `degaml reproduce`)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DegamlError(f"{path}: cannot read ({getattr(exc, 'strerror', None) or exc})") from None
    except json.JSONDecodeError as exc:
        raise DegamlError(f"{path}: not JSON (line {exc.lineno}: {exc.msg})") from None
    if not isinstance(table, dict) or any(k not in table for k in NEEDED):
        missing = next((k for k in NEEDED if not isinstance(table, dict) or k not in table), "")
        raise DegamlError(f"{path}: not a table written by `degaml reproduce` (no '{missing}')")
    unknown = [m for m in table["rows"] if m not in LABELS]
    if unknown:
        raise DegamlError(f"{path}: row '{unknown[0]}' is not a method this degaml knows")
    return table


def select_rows(table: dict[str, Any], rows: list[str]) -> dict[str, Any]:
    """`table` with only `rows` (in the given order) and the Δ rows whose both sides are among them; the
    balanced-accuracy companion narrowed the same way. An unknown row raises a one-line `DegamlError`."""
    missing = [r for r in rows if r not in table["rows"]]
    if missing:
        raise DegamlError(f"--row: '{missing[0]}' is not a row of this table ({', '.join(table['rows'])})")
    keep = set(rows)

    def narrow(part: dict[str, Any]) -> dict[str, Any]:
        return part | {"rows": {r: part["rows"][r] for r in rows if r in part["rows"]},
                       "deltas": [d for d in part["deltas"] if d["a"] in keep and d["b"] in keep]}

    out = narrow(table)
    if table.get("balanced"):
        out["balanced"] = narrow(table["balanced"])
    return out
