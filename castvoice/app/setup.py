"""Getting ready: the embedded models assembled into the cache, and castvoice's own demo film."""

from __future__ import annotations

from pathlib import Path


def assemble_models() -> dict[str, Path]:
    """Build every embedded model that is missing (and the tables made from them); name -> path."""
    from castvoice.assets import assemble_all
    from castvoice.assistant.llm.settings import EMBEDDED_DEFAULT, embedded_model
    from castvoice.voice.stock import build_stock_table

    return {**assemble_all(), "kokoro-clone-table": build_stock_table(),
            f"llm-{EMBEDDED_DEFAULT}": embedded_model(EMBEDDED_DEFAULT)}


def build_demo(out: Path) -> dict[str, Path]:
    """Generate the demo film with its subtitles, screenplay and ground truth into `out`; what -> file."""
    from castvoice.demo.film import FILES, build

    build(out)
    return {what: out / name for what, name in FILES.items()}
