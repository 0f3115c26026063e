"""The demo film's story: three characters in five scenes."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Character:
    name: str  # as the screenplay writes it
    voice: str  # a stock voice of `engine`
    speed: float
    engine: str = "kokoro"


# Marcus speaks with the embedded Piper voice, which is none of Kokoro's: cloning him cannot just find a stock
# voice, which makes him the demo's test of a trained voice (`castvoice train-voice`).
CAST = {
    "DIANE": Character("DIANE", "af_heart", 1.0),
    "MARCUS": Character("MARCUS", "en_US-joe-medium", 0.95, "piper"),
    "OLIVER": Character("OLIVER", "bm_george", 1.05),
}

# (heading, action, [(character, parenthetical or None, line, spoken in the film?)])
SCENES: list[tuple[str, str, list[tuple[str, str | None, str, bool]]]] = [
    (
        "EXT. LIGHTHOUSE - NIGHT",
        "Waves hammer the rocks. DIANE climbs the last steps, a lantern in her hand.",
        [
            ("DIANE", None, "The lamp has been dark for three nights. Somebody wanted it that way.", True),
            ("MARCUS", "out of breath", "Or the old keeper simply forgot to buy oil.", True),
            ("DIANE", None, "Keepers do not forget oil, Marcus.", True),
            ("MARCUS", None, "Fine. Then who gains from a dark coast?", True),
            ("DIANE", None, "Smugglers, wreckers, and anyone expecting a ship tonight.", True),
            ("OLIVER", "O.S.", "You are both standing on my stairs.", True),
            ("MARCUS", None, "And you must be the keeper who forgot the oil.", False),
            ("OLIVER", None, "Oliver Penhallow. I forget nothing, young man.", True),
            ("DIANE", None, "Then tell us why the light is out.", True),
            ("OLIVER", None, "Because the lens was stolen on Tuesday, a little after midnight.", True),
            ("MARCUS", None, "Who steals a lighthouse lens?", False),
        ],
    ),
    (
        "INT. LIGHTHOUSE KITCHEN - NIGHT",
        "A kettle rattles on an iron stove. OLIVER pours three cups of tea.",
        [
            ("OLIVER", None, "Sugar is in the blue tin, if you can find the blue tin.", True),
            ("DIANE", None, "Who else has a key to the lamp room?", True),
            ("OLIVER", None, "Only me, and the harbour master, Mister Crane.", True),
            ("MARCUS", None, "Crane. The man who owns half the boats in this village.", False),
            ("DIANE", "quietly", "And who would lose a fortune if the new pier opened.", True),
            ("OLIVER", None, "You think Crane wants ships on the rocks?", True),
            ("DIANE", None, "I think a lens that size does not walk away by itself.", True),
            ("MARCUS", None, "We could check the harbour office before dawn.", True),
            ("OLIVER", None, "Take my bicycle. The brakes work on Sundays.", True),
            ("MARCUS", None, "It is Thursday.", True),
            ("OLIVER", None, "Then pray.", True),
        ],
    ),
    (
        "EXT. HARBOUR OFFICE - DAWN",
        "Gulls circle. The office door is ajar. MARCUS leans the bicycle against a crate.",
        [
            ("MARCUS", None, "The door is open. That is either lucky or very bad.", True),
            ("DIANE", None, "Look at the floor. Wet footprints, and something heavy was dragged.", True),
            ("MARCUS", None, "A wooden crate, about the size of a lens.", True),
            ("DIANE", None, "The marks lead to the boat shed, not the road.", True),
            ("MARCUS", None, "So it never left the harbour.", False),
            ("DIANE", None, "Or it is waiting for the tide.", True),
            ("MARCUS", "reading a ledger", "Crane booked the shed for a private delivery at nine tonight.", True),
            ("DIANE", None, "Nine tonight. When the fishing fleet comes home in the dark.", True),
            ("MARCUS", None, "We need the lamp burning before nine.", True),
            ("DIANE", None, "Then we need that crate back before eight.", True),
        ],
    ),
    (
        "INT. BOAT SHED - DAY",
        "Dust hangs in thin light. A tarpaulin covers a large crate.",
        [
            ("OLIVER", None, "I have not been inside this shed since my wedding.", True),
            ("MARCUS", None, "You got married in a boat shed?", True),
            ("OLIVER", None, "It was raining, and the church roof was worse.", False),
            ("DIANE", None, "Help me with the tarpaulin. Slowly, it may be fragile.", True),
            ("OLIVER", "softly", "My lens. Not a scratch on her.", True),
            ("MARCUS", None, "There is a note taped to the lid.", True),
            ("DIANE", None, "Read it.", True),
            ("MARCUS", None, "It says: payment on delivery, signed with the letter C.", True),
            ("OLIVER", None, "Crane never could resist signing his own name.", True),
            ("DIANE", None, "That is not proof. Anyone can write a letter C.", True),
            ("OLIVER", None, "Then we set a lantern in the window and see who comes for it.", True),
        ],
    ),
    (
        "INT. LAMP ROOM - NIGHT",
        "The great lens turns again. A beam sweeps across the black water.",
        [
            ("MARCUS", None, "Eight fifty. The fleet is rounding the point.", True),
            ("OLIVER", None, "She is burning brighter than she has in years.", True),
            ("DIANE", None, "Someone is on the stairs. Quiet, both of you.", True),
            ("MARCUS", "whispering", "Heavy boots. Only one man wears boots like that.", True),
            ("OLIVER", None, "Good evening, Mister Crane. Looking for something?", True),
            ("DIANE", None, "The constable is waiting at the bottom of the steps.", True),
            ("MARCUS", None, "And the ships are coming home safe.", True),
            ("OLIVER", None, "Tea, anyone? I found the blue tin after all.", True),
            ("DIANE", None, "Three sugars, Oliver. It has been a long night.", True),
            ("OLIVER", None, "You will never guess where I found the spare key.", False),
        ],
    ),
]

# Two lines the film spoils on purpose, so a dataset must reject them: another character talks over
# one (the subtitles and screenplay leave the interruption out, as they usually do), and the score
# swells over the other until the words are hard to hear.
INTERRUPTIONS = {("DIANE", "The marks lead to the boat shed, not the road."): ("MARCUS", "Mind the nails there.")}
MUSIC_SWELLS = {("DIANE", "The constable is waiting at the bottom of the steps.")}
