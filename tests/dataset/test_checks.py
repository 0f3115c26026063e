"""The voice check's rule for characters with few lines."""

from castvoice.dataset.checks import CheckSettings, failed_check, unlike_voice

BOUND = CheckSettings().min_similarity


def test_a_voice_of_many_lines_is_judged_by_the_bound_alone():
    assert unlike_voice({"similarity": 0.45, "voice_lines": 8, "rival_similarity": 0.1}, BOUND)
    assert not unlike_voice({"similarity": 0.55, "voice_lines": 8, "rival_similarity": 0.6}, BOUND)


def test_a_voice_of_few_lines_passes_a_clip_clearly_closer_to_it_than_to_anyone_else():
    assert not unlike_voice({"similarity": 0.41, "voice_lines": 2, "rival_similarity": 0.24}, BOUND)
    assert unlike_voice({"similarity": 0.49, "voice_lines": 2, "rival_similarity": 0.55}, BOUND)
    assert unlike_voice({"similarity": 0.25, "voice_lines": 1, "rival_similarity": 0.0}, BOUND)
    assert unlike_voice({"similarity": 0.41, "voice_lines": 2}, BOUND)  # nobody else to compare with


def test_the_reason_names_the_voice():
    scores = {"duration": 2.0, "clipping": 0.0, "overlap": 0.0, "snr_db": 30.0, "similarity": 0.45,
              "voice_lines": 2, "rival_similarity": 0.4, "cer": 0.0}
    assert failed_check(scores, CheckSettings()).startswith("voice unlike the character's")
