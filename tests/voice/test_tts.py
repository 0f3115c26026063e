"""TTS backends on the real models: streaming, the text splitter, bad input and voices."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from castvoice.errors import CastvoiceError
from castvoice.voice.backends import get_tts
from castvoice.voice.engines.base import FIRST_PIECE_WORDS, MAX_PIECE_CHARS, split_text

TWENTY_WORDS = ("The old lighthouse keeper climbed the narrow stairs every evening to light the lamp before the "
                "fishing ships came home.")
VOICES = {"kokoro": "af_heart", "piper": "en_US-joe-medium"}
EMOJI_AND_SYMBOLS = "I ❤️ NY 😀👍🏽 *bold* ~really~ 50% off & $5 → #1 ©"


def long_text(characters: int = 10_000) -> str:
    """Prose of at least `characters`: sentences short and long, clauses, numbers, an unbroken run."""
    paragraph = (
        "Mr. Hale opened the shop at seven. "
        "Nobody came in all morning, so he swept the floor, counted the till twice, and wrote 1,250 letters "
        "to suppliers in Leeds, York, Bristol and Hull about the price of flour, which had risen again "
        "without any warning that anyone could remember hearing about from the mill or the merchants "
        "who sold it on to the bakers of the town and the villages around it. "
        "Did it matter? "
        "It did! " + "Aaaah" * 40 + ".\n\n"
    )
    return (paragraph * (characters // len(paragraph) + 1))[:characters]


def transcribed(audio: np.ndarray, rate: int) -> str:
    import soxr

    from castvoice.speech.asr import get_asr

    return get_asr("base").transcribe(soxr.resample(audio, rate, 16_000).astype(np.float32)).text


def word_error_rate(reference: str, heard: str) -> float:
    from castvoice.text.metrics import count_word_errors

    errors, words = count_word_errors([reference], [heard])
    return errors / words


def test_split_text_cuts_sentences_and_keeps_the_first_piece_short():
    text = "Well, I think so. Mr. Smith met J. R. R. Tolkien at the U.S.\nembassy!  Really?\n\n" + TWENTY_WORDS
    assert split_text(text) == [
        "Well, I think so.", "Mr. Smith met J. R. R. Tolkien at the U.S. embassy!", "Really?", TWENTY_WORDS]
    assert split_text("Listen, " + TWENTY_WORDS)[0] == "Listen,"  # a short first clause is the first piece
    first, rest = split_text(TWENTY_WORDS)
    assert first == "The old lighthouse keeper climbed"  # cut before "the", within FIRST_PIECE_WORDS
    assert len(first.split()) <= FIRST_PIECE_WORDS
    assert f"{first} {rest}" == TWENTY_WORDS
    assert split_text(TWENTY_WORDS, first_words=None) == [TWENTY_WORDS]


def test_ten_thousand_characters_are_cut_within_kokoro_phoneme_limit():
    from kokoro_onnx.config import MAX_PHONEME_LENGTH
    from kokoro_onnx.tokenizer import Tokenizer

    text = long_text()
    pieces = split_text(text)
    assert len(pieces) > 60
    assert max(len(p) for p in pieces) <= MAX_PIECE_CHARS
    assert "".join("".join(pieces).split()) == "".join(text.split())  # nothing lost, nothing reordered
    tokenizer = Tokenizer()
    assert max(len(tokenizer.phonemize(p, "en-us")) for p in pieces) <= MAX_PHONEME_LENGTH


def test_emoji_and_symbols_are_dropped_from_the_text():
    pieces = split_text(EMOJI_AND_SYMBOLS, first_words=None)
    assert pieces == ["I NY bold really 50% off & $5 → #1"]


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["kokoro", "piper"])
def test_stream_speaks_the_text_piece_by_piece(backend):
    tts = get_tts(backend)
    chunks = list(tts.stream(TWENTY_WORDS, VOICES[backend]))
    assert len(chunks) == len(split_text(TWENTY_WORDS)) >= 2
    assert all(c.dtype == np.float32 and c.ndim == 1 for c in chunks)
    first_seconds = len(chunks[0]) / tts.sample_rate
    total_seconds = sum(map(len, chunks)) / tts.sample_rate
    assert 0.5 < first_seconds < 2.5 and first_seconds < total_seconds / 2
    assert word_error_rate(TWENTY_WORDS, transcribed(np.concatenate(chunks), tts.sample_rate)) <= 0.1


@pytest.mark.slow
def test_piper_speaks_at_22050_hz_and_kokoro_at_24000():
    assert (get_tts("piper").sample_rate, get_tts("kokoro").sample_rate) == (22_050, 24_000)
    assert get_tts("piper").voices() == ["en_US-joe-medium"] and "en-us" in get_tts("piper").languages
    speech = get_tts("piper").synthesize("Good morning, Mr. Hale.", "en_US-joe-medium")
    assert 0.8 < len(speech) / 22_050 < 3.0


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["kokoro", "piper"])
@pytest.mark.parametrize("text", ["", "   \n\t ", "😀 👍🏽 ~ *"])
def test_text_with_nothing_to_speak_is_refused(backend, text):
    tts = get_tts(backend)
    with pytest.raises(CastvoiceError, match="nothing to speak"):
        tts.stream(text, VOICES[backend])
    with pytest.raises(CastvoiceError, match="nothing to speak"):
        tts.synthesize(text, VOICES[backend])


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["kokoro", "piper"])
def test_emoji_and_symbols_do_not_stop_speech(backend):
    tts = get_tts(backend)
    speech = np.concatenate(list(tts.stream(EMOJI_AND_SYMBOLS, VOICES[backend])))
    assert len(speech) / tts.sample_rate > 1.0 and np.isfinite(speech).all()


@pytest.mark.slow
def test_unknown_voice_speed_or_language_is_refused_with_the_choices():
    kokoro, piper = get_tts("kokoro"), get_tts("piper")
    with pytest.raises(CastvoiceError, match=r"unknown kokoro voice 'nobody'; voices include af_alloy, .*54 in all"):
        kokoro.stream("Hello.", "nobody")
    with pytest.raises(CastvoiceError, match="unknown piper voice 'af_heart'; voices include en_US-joe-medium"):
        piper.synthesize("Hello.", "af_heart")
    with pytest.raises(CastvoiceError, match="style array needs the kokoro backend"):
        piper.stream("Hello.", kokoro.style("af_heart"))
    with pytest.raises(CastvoiceError, match="510 x 1 x 256, not 256"):
        kokoro.stream("Hello.", np.zeros(256, np.float32))
    with pytest.raises(CastvoiceError, match="speed 3.0 is out of range"):
        kokoro.stream("Hello.", "af_heart", speed=3.0)
    with pytest.raises(CastvoiceError, match="piper does not speak 'de'; choose from en-us"):
        piper.stream("Hallo.", "en_US-joe-medium", language="de")
    with pytest.raises(CastvoiceError, match="unknown TTS backend"):
        get_tts("nope")


@pytest.mark.slow
def test_a_style_array_works_as_a_voice():
    kokoro = get_tts("kokoro")
    blend = 0.5 * kokoro.style("af_heart") + 0.5 * kokoro.style("am_adam")  # no stock voice has this style
    text = "Nobody told me the train would leave at seven."
    speech = kokoro.synthesize(text, blend, 1.1)
    assert word_error_rate(text, transcribed(speech, kokoro.sample_rate)) <= 0.1
    streamed = np.concatenate(list(kokoro.stream(text, blend, 1.1)))
    assert abs(len(streamed) - len(speech)) / len(speech) < 0.3


@pytest.mark.slow
def test_a_long_text_streams_at_once_and_an_abandoned_stream_stops():
    stream = get_tts("piper").stream(long_text(), VOICES["piper"])
    began = time.perf_counter()
    first = next(stream)
    assert len(first) > 0 and time.perf_counter() - began < 10  # the first piece, not all 10,000 characters
    stream.close()
    deadline = time.monotonic() + 20
    while any(t.name == "tts-stream" for t in threading.enumerate()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(t.name == "tts-stream" for t in threading.enumerate())


@pytest.mark.slow
def test_the_dequantised_fp32_kokoro_speaks_like_the_int8_model():
    import onnx

    from castvoice.assets import kokoro_model
    from castvoice.voice.engines.kokoro import KokoroTTS, kokoro_model_fp32

    ops = {node.op_type for node in onnx.load(kokoro_model_fp32(), load_external_data=False).graph.node}
    assert not ops & {"MatMulInteger", "ConvInteger", "DynamicQuantizeLSTM", "DynamicQuantizeLinear"}
    assert {"MatMul", "Conv", "LSTM"} <= ops
    int8, fp32 = get_tts("kokoro"), KokoroTTS(precision="fp32")
    quantised, full = int8.synthesize(TWENTY_WORDS, "af_heart"), fp32.synthesize(TWENTY_WORDS, "af_heart")
    assert abs(len(full) - len(quantised)) / len(quantised) < 0.05
    assert word_error_rate(TWENTY_WORDS, transcribed(full, fp32.sample_rate)) <= 0.05
    assert kokoro_model_fp32().stat().st_size > 3 * kokoro_model().stat().st_size  # float32 weights, not int8
