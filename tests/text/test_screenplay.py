from __future__ import annotations

from pathlib import Path

import pytest

from castvoice.errors import InputError
from castvoice.text.screenplay import parse_screenplay, read_screenplay
from castvoice.text.types import DialogueBlock

FOUNTAIN = """\
Title:
    _**The Long Night**_
Credit: Written by
Author: A. Writer
Draft date: 1/1/2024

INT. TOWER - NIGHT #1#

McCLANE crawls through a vent. *Dust* everywhere.

@McCLANE
Come out to the coast, we'll get together, have a few **laughs**.

HANS (V.O.)
(calmly)
Who are you?
[[Hans should sound bored.]]
What do you _want_?

!GUNSHOTS ECHO
Down the corridor.

BOOM

/*
KARL
This line was cut.
*/

> CUT TO:

.THE ROOF

# Act Two

= Hans loses patience.

KARL (O.S.)
Hans! [[louder]]

HANS ^
(into radio)
Karl, *quiet*. Use a \\*.
~Twinkle twinkle
~little star.

KARL (CONT'D)
Sorry.

HOLLY (CONT’D)
I'm fine.

FADE OUT.

===

ext. street - continuous

>THE END<
"""

INDENTED = """\
                              NIGHT DINER
                               Written by
                                Jo Smith

                                                                 1.
          FADE IN:

          INT. DINER - NIGHT

          A neon sign flickers. SAM (50s) wipes the counter.

                                SAM
                    We're closed.

                                RUTH
                          (shaking off rain)
                    Coffee. Black. Then I'm gone.
          Sam pours. Ruth sits.

                                SAM
                    Long drive?
                    NOT THAT IT'S
                    my business.

                                RUTH
                    Long enough. I left Reno at noon
                    and I haven't stopped once.
                                (MORE)
\f                                                                 2.
          CONTINUED:
                                RUTH (CONT'D)
                          (beat)
                    My sister thinks I'm crazy.

                                                             CUT TO:

          3    EXT. PARKING LOT - CONTINUOUS    3

          Ruth's car, engine ticking. SAM runs out.

                                SAM (O.S.)
                    You forgot your keys!
                                                          FADE OUT.
"""

FLUSH = """\
FADE IN:

INT. KITCHEN - NIGHT

Rain hammers the window. MARY (40s) stirs a pot.

MARY
(without turning)
You're late.

JOHN
Traffic. The bridge
was closed again.

SILENCE.

MARY (O.S.)
Sit down.

CUT TO:

EXT. PORCH - LATER

JOHN
Stars are out.

THE END
"""


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    return path


def test_fountain(tmp_path):
    screenplay = read_screenplay(write(tmp_path, "night.fountain", FOUNTAIN))
    assert screenplay.scene_headings == ["INT. TOWER - NIGHT", "THE ROOF", "ext. street - continuous"]
    assert screenplay.blocks == [
        DialogueBlock("MCCLANE", "Come out to the coast, we'll get together, have a few laughs.", 1),
        DialogueBlock("HANS", "Who are you? What do you want?", 1, "calmly"),
        DialogueBlock("KARL", "Hans!", 2),
        DialogueBlock("HANS", "Karl, quiet. Use a *. Twinkle twinkle little star.", 2, "into radio"),
        DialogueBlock("KARL", "Sorry.", 2),
        DialogueBlock("HOLLY", "I'm fine.", 2),
    ]
    assert screenplay.characters == ["HANS", "HOLLY", "KARL", "MCCLANE"]


def test_fountain_detected_from_content():
    text = "Title: Short\n\nBOB\nHi.\n\nBOB\n\nNot a cue, a lone line.\n"
    assert parse_screenplay(text).blocks == [DialogueBlock("BOB", "Hi.", 0)]
    forced = "@Bob\nHi.\n"  # forced cue, no title page
    assert parse_screenplay(forced).blocks == [DialogueBlock("BOB", "Hi.", 0)]


def test_fountain_dialogue_needs_blank_line_before_cue_and_two_spaces_continue_it():
    text = "Action here.\nBOB\nNot dialogue.\n\nALICE\nFirst.\n  \nSecond.\n"
    assert parse_screenplay(text, fountain=True).blocks == [DialogueBlock("ALICE", "First. Second.", 0)]


def test_indented_plain_text(tmp_path):
    screenplay = read_screenplay(write(tmp_path, "diner.txt", INDENTED))
    assert screenplay.scene_headings == ["INT. DINER - NIGHT", "EXT. PARKING LOT - CONTINUOUS"]
    assert screenplay.blocks == [
        DialogueBlock("SAM", "We're closed.", 1),
        DialogueBlock("RUTH", "Coffee. Black. Then I'm gone.", 1, "shaking off rain"),
        DialogueBlock("SAM", "Long drive? NOT THAT IT'S my business.", 1),
        DialogueBlock(
            "RUTH",
            "Long enough. I left Reno at noon and I haven't stopped once. My sister thinks I'm crazy.",
            1,
            "beat",
        ),
        DialogueBlock("SAM", "You forgot your keys!", 2),
    ]


def test_indented_cue_may_follow_dialogue_directly():
    text = (
        "INT. ROOM - DAY\n\n"
        "                         ANNA\n"
        "               Ready?\n"
        "                         BEN\n"
        "               Always.\n"
        "Anna nods.\n"
    )
    assert parse_screenplay(text).blocks == [
        DialogueBlock("ANNA", "Ready?", 1),
        DialogueBlock("BEN", "Always.", 1),
    ]


def test_cont_d_after_action_is_a_new_block():
    text = (
        "                         ANNA\n"
        "               One.\n\n"
        "Ben leaves.\n\n"
        "                         ANNA (CONT'D)\n"
        "               Two.\n"
    )
    assert [b.text for b in parse_screenplay(text).blocks] == ["One.", "Two."]


def test_flush_left_plain_text(tmp_path):
    screenplay = read_screenplay(write(tmp_path, "kitchen.txt", FLUSH))
    assert screenplay.scene_headings == ["INT. KITCHEN - NIGHT", "EXT. PORCH - LATER"]
    assert screenplay.blocks == [
        DialogueBlock("MARY", "You're late.", 1, "without turning"),
        DialogueBlock("JOHN", "Traffic. The bridge was closed again.", 1),
        DialogueBlock("MARY", "Sit down.", 1),
        DialogueBlock("JOHN", "Stars are out.", 2),
    ]


def test_parentheticals_inline_and_over_two_lines():
    text = "BOB\n(looking at her,\nthen away)\nFine.\n(laughs) Really fine.\n"
    assert parse_screenplay(text).blocks == [
        DialogueBlock("BOB", "Fine. Really fine.", 0, "looking at her, then away; laughs")
    ]


def test_crlf_and_cp1252(tmp_path):
    text = "INT. CAFÉ - DAY\r\n\r\nMARÍA\r\n¿Qué pasa? It’s café.\r\n"
    screenplay = read_screenplay(write(tmp_path, "cafe.txt", text.encode("cp1252")))
    assert screenplay.scene_headings == ["INT. CAFÉ - DAY"]
    assert screenplay.blocks == [DialogueBlock("MARÍA", "¿Qué pasa? It’s café.", 1)]


def test_utf8_bom_and_utf16(tmp_path):
    text = "ZOË\r\nHallo, Größe.\r\n"
    expected = [DialogueBlock("ZOË", "Hallo, Größe.", 0)]
    assert read_screenplay(write(tmp_path, "bom.txt", text.encode("utf-8-sig"))).blocks == expected
    assert read_screenplay(write(tmp_path, "wide.txt", text.encode("utf-16"))).blocks == expected


PROSE = """\
It was a bright cold day in April, and the clocks were striking thirteen.
Winston Smith, his chin nuzzled into his breast, slipped quickly through
the glass doors of Victory Mansions.

THE END
"""


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("novel.txt", PROSE, "no dialogue found"),
        ("novel.fountain", PROSE, "no dialogue found"),
        ("empty.txt", b"", "no dialogue found"),
        ("blank.fountain", "\n\n  \n", "no dialogue found"),
        ("image.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), "not a text file"),
        ("script.txt", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "not a text file"),
    ],
)
def test_bad_input(tmp_path, name, content, problem):
    path = write(tmp_path, name, content)
    with pytest.raises(InputError) as caught:
        read_screenplay(path)
    assert problem in str(caught.value)
    assert name in str(caught.value)


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="missing.txt: file not found"):
        read_screenplay(tmp_path / "missing.txt")
