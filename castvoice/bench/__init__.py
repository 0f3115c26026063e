"""Benchmarks: figures printed as ratios against a baseline measured in the same run."""

from __future__ import annotations

import json
import os
from pathlib import Path

from rich.console import Console
from rich.table import Table

from castvoice.atomic import write_text_atomic
from castvoice.errors import CastvoiceError


def eval_root() -> Path:
    """The shared evaluation recordings: $CASTVOICE_EVAL, else shared/eval beside the repository."""
    root = Path(os.environ.get("CASTVOICE_EVAL", Path(__file__).resolve().parents[3] / "shared" / "eval"))
    if not root.is_dir():
        raise CastvoiceError("evaluation recordings not found; set CASTVOICE_EVAL", root)
    return root


def rows_table(title: str, rows: list[dict]) -> Table:
    """A table with a column for every key that appears in any row."""
    columns = list(dict.fromkeys(key for row in rows for key in row))
    table = Table(*columns, title=title)
    for row in rows:
        table.add_row(*(str(row.get(column, "")) for column in columns))
    return table


def report(sections: dict[str, list[dict]], targets: dict, out: Path | None, unprinted: tuple[str, ...] = ()) -> None:
    """Print each section (but the `unprinted`, too long to read as a table) on stdout, then the targets; write
    everything as JSON to `out`."""
    console = Console(width=200)
    for title, rows in sections.items():
        if title not in unprinted:
            console.print(rows_table(title, rows))
    console.print("targets: " + ", ".join(f"{k} {v}" for k, v in targets.items()))
    if out:
        write_text_atomic(out, json.dumps({"targets": targets, **sections}, indent=2, ensure_ascii=False,
                                         default=lambda value: value.item()))
