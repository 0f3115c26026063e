"""castvoice: turn a movie into a talking character, locally."""

__version__ = "0.1.0"
