"""Opt-outs as customers write them: one row per message, the outcome each must have.

The issue's examples first, then the noise of real phones (punctuation, emoji, full-width
and styled letters, zero-width characters, look-alike letters, held-down keys, other
languages' courtesy), plain-language requests to stop, and what must NOT revoke: negations,
questions (they get the HELP answer) and ordinary messages that happen to use the words.
docs/opt-outs.md explains each choice.
"""

from __future__ import annotations

import pytest

from preference_center.opt_out_text import classify, normalise

OUT, IN, HELP, NONE = "opt_out", "opt_in", "help", "none"
ZW = "\u200b"  # zero-width space
ZWJ = "\u200d"
WJ = "\u2060"  # word joiner
BOM = "\ufeff"

TABLE: list[tuple[str, str]] = [
    # --- the examples -----------------------------------------------------------
    ("STOP.", OUT),
    ("Stop!", OUT),
    ("STOP 🛑", OUT),
    ("ＳＴＯＰ", OUT),
    ("OPT OUT", OUT),
    ("opt-out", OUT),
    ("STOP ALL", OUT),
    ("Stop texting me", OUT),
    ("Unsubscribe me", OUT),
    ("don't stop", NONE),
    ("how do I stop?", HELP),
    # --- Twilio's keywords, the whole message -------------------------------------------
    ("STOP", OUT),
    ("stop", OUT),
    (" Stop ", OUT),
    ("STOPALL", OUT),
    ("StopAll", OUT),
    ("UNSUBSCRIBE", OUT),
    ("unsubscribe", OUT),
    ("CANCEL", OUT),
    ("END", OUT),
    ("QUIT", OUT),
    ("REVOKE", OUT),
    ("OPTOUT", OUT),
    ("START", IN),
    ("start", IN),
    ("YES", IN),
    ("Yes", IN),
    ("UNSTOP", IN),
    ("HELP", HELP),
    ("help", HELP),
    ("INFO", HELP),
    ("info", HELP),
    ("ARRET", OUT),
    ("Arrêt", OUT),
    ("ARRÊTE", OUT),
    # --- multi-word forms ---------------------------------------------------------------
    ("Opt Out", OUT),
    ("opt out", OUT),
    ("OPT-OUT!", OUT),
    ("opt_out", OUT),
    ("opt me out", OUT),
    ("Stop all", OUT),
    ("stop all messages", OUT),
    ("STOP ALL MESSAGES.", OUT),
    ("cancel all", OUT),
    ("unsubscribe me", OUT),
    ("UNSUBSCRIBE ME!!!", OUT),
    ("un-subscribe", OUT),
    ("opt in", IN),
    # --- punctuation and blanks -----------------------------------------------------------
    ("STOP!!!", OUT),
    ("stop...", OUT),
    ('"STOP"', OUT),
    ("(stop)", OUT),
    ("*STOP*", OUT),
    ("-stop-", OUT),
    ("STOP?!", OUT),
    ("\tSTOP\n", OUT),
    ("S T O P", NONE),  # spelled out letter by letter: not a word any rule knows
    ("Stop,", OUT),
    ("¡STOP!", OUT),
    ("yes!", IN),
    ("Yes.", IN),
    ("START!", IN),
    ("help?", HELP),
    ("HELP!!!", HELP),
    # --- emoji and symbols --------------------------------------------------------------
    ("🛑 STOP 🛑", OUT),
    ("STOP✋", OUT),
    ("stop 😡😡😡", OUT),
    ("STOP 👎🏽", OUT),
    ("✋ stop please ✋", OUT),
    ("YES 👍", IN),
    ("yes ✅", IN),
    ("START 🎉", IN),
    ("🛑", NONE),
    ("👍", NONE),
    ("❤️ love these deals", NONE),
    # --- Unicode: full-width, styled, accented, zero-width, look-alikes -------------------
    ("ｓｔｏｐ", OUT),
    ("ＳＴＯＰ！", OUT),
    ("𝐒𝐓𝐎𝐏", OUT),
    ("𝓢𝓽𝓸𝓹", OUT),
    ("Ⓢⓣⓞⓟ", OUT),
    ("ＵＮＳＵＢＳＣＲＩＢＥ", OUT),
    ("stóp", OUT),
    (f"S{ZW}TOP", OUT),
    (f"{ZW}STOP{ZW}", OUT),
    (f"ST{ZWJ}OP", OUT),
    (f"STO{WJ}P", OUT),
    (f"{BOM}STOP", OUT),
    ("S\u00adTOP", OUT),  # soft hyphen
    ("\u202eSTOP\u202c", OUT),  # bidi override
    ("SТОР", OUT),  # Cyrillic Т, О, Р among Latin letters
    ("ѕтор", NONE),  # wholly Cyrillic look-alikes: a word of another script, not a disguise
    ("СТОП", NONE),  # Russian for stop: other languages are out of scope (docs)
    ("ＹＥＳ", IN),
    (f"Y{ZW}ES", IN),
    # --- held-down keys -------------------------------------------------------------------
    ("stoooop", OUT),
    ("STOPPPP!!!", OUT),
    ("pleaseeee stop", OUT),
    ("yesss", IN),
    ("stooop texting meee", OUT),
    # --- courtesy, emphasis and other languages' noise -----------------------------------
    ("stop please", OUT),
    ("Please stop", OUT),
    ("STOP PLEASE!!", OUT),
    ("stop now", OUT),
    ("stop it", OUT),
    ("STOP STOP STOP", OUT),
    ("stop, thank you", OUT),
    ("Stop thanks", OUT),
    ("ok stop", OUT),
    ("just stop already", OUT),
    ("stop for good", OUT),
    ("STOP merci", OUT),
    ("stop svp", OUT),
    ("stop s'il vous plaît", OUT),
    ("stop por favor", OUT),
    ("STOP gracias", OUT),
    ("stop bitte", OUT),
    ("Stop danke", OUT),
    ("stop grazie", OUT),
    ("stop obrigado", OUT),
    ("unsubscribe please", OUT),
    ("cancel please", OUT),
    ("quit it", OUT),
    ("yes please", IN),
    ("Yes please!", IN),
    ("start please", IN),
    ("help please", HELP),
    ("help me", HELP),
    ("yes stop", OUT),  # both: the safe reading
    ("stop help", OUT),
    # --- plain-language revocations -------------------------------------------------------
    ("Stop texting me.", OUT),
    ("stop texting me about shoes please", OUT),
    ("Please stop sending me these", OUT),
    ("please stop sending me these messages", OUT),
    ("stop messaging me", OUT),
    ("Stop contacting me", OUT),
    ("stop sending me promotional emails", OUT),
    ("stop the texts", OUT),
    ("stop with the spam", OUT),
    ("quit texting me", OUT),
    ("end all messages", OUT),
    ("cancel my subscription", OUT),
    ("cancel these texts", OUT),
    ("halt all notifications", OUT),
    ("I want to unsubscribe", OUT),
    ("I'd like to opt out", OUT),
    ("I would like to unsubscribe from this list", OUT),
    ("Please opt me out of texts", OUT),
    ("I revoke my consent", OUT),
    ("I unsubscribed last week and still get these", OUT),
    ("remove me from your list", OUT),
    ("Please remove me", OUT),
    ("remove my number", OUT),
    ("delete my number from your list", OUT),
    ("take me off your list", OUT),
    ("take me off", OUT),
    ("take my number off the list", OUT),
    ("no more texts", OUT),
    ("No more messages please", OUT),
    ("enough with the texts", OUT),
    ("don't text me", OUT),
    ("Don't text me anymore", OUT),
    ("Do not contact me", OUT),
    ("please do not message me again", OUT),
    ("never text me again", OUT),
    ("don't send me any more texts", OUT),
    ("I don't want these texts", OUT),
    ("I do not wish to receive messages", OUT),
    ("I no longer want to get texts from you", OUT),
    ("leave me alone", OUT),
    ("Leave me alone!!!", OUT),
    ("lose my number", OUT),
    ("wrong number", OUT),
    ("Wrong number, who is this?", OUT),
    ("these texts need to stop", OUT),
    ("make the messages stop", OUT),
    ("not interested stop texting me", OUT),
    ("Who is this? Stop.", OUT),
    ("I love your store. I'd like to stop getting texts though.", OUT),
    ("I like the deals but stop texting me at night", OUT),
    ("STOP TEXTING ME!!!", OUT),
    ("stop sending", OUT),
    # polite requests and rhetorical demands are requests, though they end in "?"
    ("can you stop texting me?", OUT),
    ("Could you please remove me from your list?", OUT),
    ("can you please stop?", OUT),
    ("would you stop sending me these?", OUT),
    ("will you stop texting me already?!", OUT),
    ("can you not text me?", OUT),
    ("why won't you stop texting me?", OUT),
    ("why don't you stop?", OUT),
    # --- negations: not a revocation ------------------------------------------------------
    ("Don't stop", NONE),
    ("don't stop!", NONE),
    ("DO NOT STOP", NONE),
    ("please don't stop sending me deals", NONE),
    ("do not cancel my order", NONE),
    ("don't cancel", NONE),
    ("Don't unsubscribe me", NONE),
    ("I will never unsubscribe", NONE),
    ("I'm not going to unsubscribe, I love these", NONE),
    ("I don't want you to stop texting me", NONE),
    ("I didn't ask you to stop", NONE),
    ("no need to unsubscribe me", NONE),
    ("I can't stop laughing", NONE),
    ("never stop", NONE),
    ("No, don't stop", NONE),
    ("don't ever stop sending these", NONE),
    # --- questions: the HELP answer, which says how to stop ------------------------------
    ("How do I stop?", HELP),
    ("how do I stop these texts?", HELP),
    ("How can I unsubscribe?", HELP),
    ("can I unsubscribe later?", HELP),
    ("what happens if I opt out?", HELP),
    ("is there a way to stop these messages?", HELP),
    ("how to unsubscribe", HELP),
    ("Will I still get receipts if I unsubscribe?", HELP),
    # questions about something else
    ("When does the bus stop?", NONE),
    ("can you stop by the store?", NONE),
    ("how do I cancel my order?", NONE),
    ("What time does the sale end?", NONE),
    ("Is the promo code still valid?", NONE),
    # --- ordinary messages that use the words ----------------------------------------------
    ("the bus will stop at the end", NONE),
    ("cancel my order", NONE),
    ("Cancel my appointment", NONE),
    ("cancel it", NONE),
    ("end this", NONE),
    ("the end", NONE),
    ("Stop by our store this weekend!", NONE),
    ("I'll stop by later to text you the details", NONE),
    ("stop the car", NONE),
    ("I need to end my lease", NONE),
    ("I quit my job today lol", NONE),
    ("When will the sale end?", NONE),
    ("Thanks! See you at the end of the month", NONE),
    ("Can't wait to start", NONE),
    ("yes I'll be there", NONE),
    ("YES, size M please", NONE),
    ("help me find my size", NONE),
    ("I need help with my order", NONE),
    ("more info on the blue jacket?", NONE),
    ("ok", NONE),
    ("thanks!", NONE),
    ("", NONE),
    ("   ", NONE),
    ("...", NONE),
    ("Where is my package?", NONE),
    ("my order #1234 never arrived", NONE),
    ("dont text me before 9", NONE),  # a timing request (quiet hours), not a revocation
    # --- long messages --------------------------------------------------------------------
    ("Hi, I bought a jacket from you last month and it was great. " * 10, NONE),
    (
        "Hi, I bought a jacket from you last month and it was great. " * 10
        + "But please stop texting me every day.",
        OUT,
    ),
    ("I have a question about my order. " * 20 + "Also, how do I unsubscribe?", HELP),
    ("word " * 400, NONE),
    ("stop " * 300, OUT),
]


def test_the_table_is_large_and_has_no_repeated_inputs() -> None:
    inputs = [text for text, _ in TABLE]
    assert len(TABLE) >= 150
    assert len(set(inputs)) == len(inputs)


@pytest.mark.parametrize(("text", "expected"), TABLE, ids=[f"{i:03d}" for i in range(len(TABLE))])
def test_what_each_message_asks_for(text: str, expected: str) -> None:
    match = classify(text)
    assert match.kind == expected, f"{text!r} read as {match.kind} by rule {match.rule}"


def test_the_match_names_its_rule_and_keeps_the_normalised_text_for_the_evidence() -> None:
    assert classify("ＳＴＯＰ 🛑").evidence == {"rule": "keyword", "normalised": "stop",
                                            "matched": "stop"}  # fmt: skip
    assert classify("opt-out").rule == "multi_word"
    assert classify("stop please").rule == "courtesy"
    assert classify("Please stop sending me these").rule == "plain:stop_messaging"
    assert classify("remove me from your list").rule == "plain:remove_me"
    assert classify("can you stop texting me?").rule == "plain:polite_request"
    assert classify("how do I stop?").rule == "question"
    assert classify("don't stop").rule == "none"
    long = classify("Hello there. " * 200 + "Stop texting me.")
    assert long.matched == "stop texting me"
    assert len(long.evidence["normalised"]) <= 320


def test_normalisation_removes_what_phones_add() -> None:
    assert normalise(f"  ＳＴＯＰ!! 🛑{ZW} ") == "stop"
    assert normalise("Don’t  STOP…") == "dont stop"
    assert normalise("opt-out") == "opt out"
    assert normalise("Arrêt") == "arret"
    assert normalise("x" * 10_000) == "x" * 2000  # bounded, whatever arrives
