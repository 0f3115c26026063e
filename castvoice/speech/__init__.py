"""Hearing the movie: voice activity, speech recognition, forced alignment and speakers."""
