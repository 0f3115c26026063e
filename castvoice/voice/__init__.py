"""The character's voice: text-to-speech backends and voice profiles."""
