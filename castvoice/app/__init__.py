"""What castvoice's commands do, as a plain Python API that every front end calls: the CLI, the HTTP
service and the GUI. One module per step:

- `ingest`: a movie and its text into a workspace
- `lines`: characters, their lines, and cutting lines into clips
- `speakers`: anonymous speakers, naming them, finding a character by an example of their voice
- `dataset`: cleaning and checking a character's clips, review, overrides, references, export, report
- `voices`: voice profiles (create, list, export, import) and speaking text in a voice
- `chat`: talking with a character; persona and memory
- `tools`: transcribe, align and diarize a media file outside any workspace
- `setup`: the embedded models and the demo film

Functions take an open `Workspace` (`open_workspace`) or paths, report long work through
`castvoice.progress`, and raise `CastvoiceError` for problems the user can fix.
"""

from __future__ import annotations

from pathlib import Path

from castvoice.workspace import Workspace, open_existing


def open_workspace(path: Path | None) -> Workspace:
    """The workspace at `path`, else $CASTVOICE_WORKSPACE, else the single one under the current folder."""
    return open_existing(path)
