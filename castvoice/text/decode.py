"""Reading text files in whatever encoding people save them: one set of rules for subtitles,
screenplays and transcripts."""

from __future__ import annotations

import codecs
import unicodedata
from pathlib import Path

from castvoice.errors import InputError

_BOMS = (  # UTF-32 first: its little-endian BOM begins with UTF-16's
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def read_text_file(path: str | Path, kind: str = "text file") -> str:
    """The text of a file, decoded by `decode_text`; a one-line error naming the file when it is
    missing, unreadable or not text. `kind` names what the file should be in that error."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError("file not found", path) from None
    except IsADirectoryError:
        raise InputError(f"is a folder, not a {kind}", path) from None
    except OSError as error:
        raise InputError(f"cannot read the file ({error.strerror or error})", path) from None
    return decode_text(data, path, kind)


def decode_text(data: bytes, path: str | Path, kind: str = "text file") -> str:
    """Decode text bytes: a BOM, UTF-16 without a BOM, UTF-8, then the legacy code pages (cp1252 unless
    the text is clearly in another script). Line ends become \\n; a leading BOM is dropped."""
    if data.startswith(b"%PDF"):
        raise InputError(f"is a PDF, not a {kind} (convert it first, e.g. `pdftotext -layout`)", path)
    encoding = next((enc for bom, enc in _BOMS if data.startswith(bom)), None) or _bomless_utf16(data)
    if encoding:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            raise InputError(f"is not valid {encoding} text", path) from None
    elif b"\x00" in data:
        raise InputError(f"is binary data, not a {kind}", path)
    else:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = _decode_legacy(data)
    return text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")


def _bomless_utf16(data: bytes) -> str | None:
    """Recognise UTF-16 text without a BOM by the zero bytes of its ASCII characters."""
    sample = data[:4096]
    half = len(sample) // 2
    if half < 2:
        return None
    even_zeros, odd_zeros = sample[0::2].count(0), sample[1::2].count(0)
    if odd_zeros > 0.3 * half and even_zeros < 0.05 * half:
        return "utf-16-le"
    if even_zeros > 0.3 * half and odd_zeros < 0.05 * half:
        return "utf-16-be"
    return None


def _decode_legacy(data: bytes) -> str:
    """Decode non-UTF-8 bytes, assuming cp1252 unless the text is clearly in another script.

    Detectors confuse the Latin code pages with each other on short texts (cp1252 French
    read as cp1250), so a guess is only trusted when it yields mostly non-Latin letters
    (Cyrillic, Greek, Hebrew, CJK, ...).
    """
    import charset_normalizer

    guess = charset_normalizer.from_bytes(data).best()
    if guess is not None:
        decoded = str(guess)
        letters = [ch for ch in decoded if ch.isalpha() and not ch.isascii()]
        non_latin = sum(not unicodedata.name(ch, "").startswith("LATIN") for ch in letters)
        if letters and non_latin > len(letters) / 2:
            return decoded
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        return data.decode("latin-1")
