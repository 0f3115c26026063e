"""Spoken-form text for TTS datasets, and the scoring words built on it."""

from __future__ import annotations

import pytest

from castvoice.text.normalize import scoring_words, spoken_text


@pytest.mark.parametrize(("written", "spoken"), [
    ("In 1984 the 3rd of 12,000 cost 2.5", "In nineteen eighty-four the third of twelve thousand cost two point five"),
    ("Back in 1905, 1900 and 2005; now 2023.", "Back in nineteen oh-five, nineteen hundred and two thousand five; "
                                               "now twenty twenty-three."),
    ("She was 21st, he was 102nd.", "She was twenty-first, he was one hundred second."),
    ("The 1990s, the '80s and 1,000,000 people", "The nineteen nineties, the eighties and one million people"),
    ("Agent 007 wants 5kg of MP3s", "Agent zero zero seven wants five kg of MP threes"),
    ("It's 50% off, or 2.5 % more.", "It's fifty percent off, or two point five percent more."),
])
def test_numbers_ordinals_years_decimals_percentages(written, spoken):
    assert spoken_text(written) == spoken


@pytest.mark.parametrize(("written", "spoken"), [
    ("$5, £20, €3.50 and £1", "five dollars, twenty pounds, three euros and fifty cents and one pound"),
    ("$1,250.01 or $0.75", "one thousand two hundred fifty dollars and one cent or seventy-five cents"),
    ("It cost $2.5 million, ¥300.", "It cost two point five million dollars, three hundred yen."),
])
def test_currency(written, spoken):
    assert spoken_text(written) == spoken


@pytest.mark.parametrize(("written", "spoken"), [
    ("Meet me at 9:30.", "Meet me at nine thirty."),
    ("At 9:05 am, 10:00, 14:00 or 7 PM", "At nine oh five a m, ten o'clock, fourteen hundred or seven P M"),
    ("The train leaves at 8.50 pm.", "The train leaves at eight fifty p m."),
    ("It leaves at 6 p.m. sharp.", "It leaves at six p m sharp."),
    ("Home by 11 p.m. Then bed.", "Home by eleven p m. Then bed."),
    ("It weighs 8.50 kilos.", "It weighs eight point five kilos."),  # no am/pm: a decimal, not a time
    ("The score was 25:30", "The score was twenty-five:thirty"),  # no hour 25
])
def test_times(written, spoken):
    assert spoken_text(written) == spoken


@pytest.mark.parametrize(("written", "spoken"), [
    ("Mr. Smith met Mrs. Jones, Ms. Wu and Dr. Lee.", "Mister Smith met Missus Jones, Miz Wu and Doctor Lee."),
    ("DR. LEE and Mr Bean, Prof. Xavier", "DOCTOR LEE and Mister Bean, Professor Xavier"),
    ("From St. Louis to 221 Baker St.", "From Saint Louis to two hundred twenty-one Baker Street."),
    ("Martin Luther King Jr. spoke, then Bush Sr. did.", "Martin Luther King Junior spoke, then Bush Senior did."),
    ("It was Sammy Davis Jr.", "It was Sammy Davis Junior."),  # the period also ends the sentence
    ("Apples, pears, etc. Then Kramer vs. Kramer.", "Apples, pears, et cetera. Then Kramer versus Kramer."),
    ("He wore No. 5 at AT&T & Co.", "He wore Number five at AT and T and Co."),
    ("No. I said no.", "No. I said no."),  # "No." before no number is the word
])
def test_english_abbreviations(written, spoken):
    assert spoken_text(written) == spoken


def test_whitespace_is_collapsed_and_text_without_numbers_unchanged():
    assert spoken_text("  Don't go,\n  please!  ") == "Don't go, please!"


def test_other_languages_use_their_own_numbers_and_separators():
    assert spoken_text("Il a 1 000 euros et 3,5 % à 9:30.", "fr") == (
        "Il a mille euros et trois virgule cinq pour cent à neuf trente.")
    assert spoken_text("Im Jahr 1984 kostete es 2.500 Mark.", "de") == (
        "Im Jahr neunzehnhundertvierundachtzig kostete es zweitausendfünfhundert Mark.")
    assert spoken_text("Tengo 35 años", "es-MX") == "Tengo treinta y cinco años"
    assert spoken_text("3人", "ja") == "三人"  # no spaces inside Japanese


def test_abbreviations_are_english_only_and_unknown_languages_keep_digits():
    assert spoken_text("Dr. Müller hat 2 Hunde & 1 Katze.", "de") == "Dr. Müller hat zwei Hunde & eins Katze."
    assert spoken_text("我有 3 个 Mr. 5", "zh") == "我有 3 个 Mr. 5"


def test_scoring_words_build_on_the_spoken_form():
    assert scoring_words("In 1984 the 3rd of 12,000 [laughs] um, cost 2.5 <noise> in the 1990s") == (
        "in nineteen eighty four the third of twelve thousand cost two point five in the nineteen nineties".split())
    assert scoring_words("Don't, it's 50% OK") == "do not it is fifty percent okay".split()
    assert scoring_words("Dr. Lee paid $5 at 9:00") == scoring_words("doctor lee paid five dollars at nine o'clock")
