"""castvoice's own demo film, generated offline with the embedded TTS."""
