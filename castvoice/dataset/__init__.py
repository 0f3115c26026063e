"""The voice dataset: a character's clips, cut, checked and exported."""
