"""Text sources: subtitles, screenplays, and attributing subtitle lines to characters."""
