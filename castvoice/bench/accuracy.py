"""`castvoice bench accuracy`: quality of the speech stage on the shared evaluation recordings."""

from __future__ import annotations

from pathlib import Path

from castvoice.bench import report


def run(out: Path | None = None) -> None:
    """Measure WER, hallucination, language ID, DER, alignment, verification EER and character finding."""
    from castvoice.bench import align, asr, finding, speakers

    sections = {
        "ASR word error rate after normalisation": asr.wer_rows(),
        "music and effects only: no text expected": [asr.hallucination_row()],
        "language identification": asr.language_rows(),
        "diarization error rate, AMI excerpts (collar +-0.25 s, overlap scored)": speakers.der_rows(),
        "stereo_diarization.wav mixed to mono": [speakers.stereo_row()],
        "forced alignment: word boundaries against reference labels": align.alignment_rows(),
        "speaker verification": speakers.eer_rows(),
        "character finding on the demo film, screenplay withheld, enrolled from one 3 s example": finding.finding_rows(),
    }
    targets = {
        "WER base overall": f"<= {asr.TARGET_WER_BASE:.1%}",
        "music-only transcript": "empty",
        "DER overall": f"<= {speakers.TARGET_DER:.0%}",
        "stereo speakers": "2",
        "alignment mean (pocketsphinx, overall)": f"<= {align.TARGET_MEAN_MS:.0f} ms",
        "alignment within 50 ms": f">= {align.TARGET_WITHIN_50MS:.0%}",
        "CAM++ EER": f"<= {speakers.TARGET_EER_CAMPPLUS:.0%}",
        "character finding": f"recall >= {finding.TARGET_RECALL:.0%} at precision >= {finding.TARGET_PRECISION:.0%}",
    }
    report(sections, targets, out)
