"""castvoice's config file: one TOML file with a table per part (`[llm]`, `[elevenlabs]`)."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterable
from pathlib import Path

from castvoice.errors import CastvoiceError

CONFIG_ENV = "CASTVOICE_CONFIG"


def config_path() -> Path:
    """The config file: $CASTVOICE_CONFIG, default ~/.config/castvoice/config.toml."""
    return Path(os.environ.get(CONFIG_ENV) or Path.home() / ".config" / "castvoice" / "config.toml")


def config_table(name: str, known: Iterable[str], path: Path | None = None) -> tuple[dict, Path]:
    """The `[name]` table of the config file (empty when the file does not exist) and the file's path; a file
    that is not TOML, or a key not in `known`, is refused with one line."""
    path = path or config_path()
    if not path.is_file():
        return {}, path
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8")).get(name, {})
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise CastvoiceError(f"not a valid TOML file ({error})", path) from None
    known = list(known)
    unknown = sorted(set(table) - set(known))
    if unknown:
        raise CastvoiceError(f"unknown [{name}] settings {', '.join(unknown)}; known: {', '.join(known)}", path)
    return table, path
