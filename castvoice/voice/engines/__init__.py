"""Text-to-speech engines, one file each, behind the small base in `base.py`; `castvoice.voice.backends`
names them."""
