"""Media: probing movies, decoding their audio, reading embedded subtitles, cutting clips."""
