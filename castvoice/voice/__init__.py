"""The character's voice: text-to-speech engines (named in `backends`), cloning within Kokoro's style space,
and voice profiles."""
