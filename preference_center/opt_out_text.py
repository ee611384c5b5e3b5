"""What a customer's message asks for: stop, start, help or nothing — as people write it.

Carriers and Twilio act on a message that is exactly one keyword (STOP, START, HELP…). People
write "Stop!", "STOP 🛑", "ＳＴＯＰ" (a full-width keyboard), "opt-out", "Stop texting me" or
"please remove me from your list", and the FCC's 2024 revocation rule (47 CFR
64.1200(a)(10)) counts a reply using stop, quit, end, revoke, opt out, cancel or unsubscribe,
or any other reasonable means, as a revocation. This module reads a message in two steps:

1. **Normalise** (``normalise``): Unicode NFKC (full-width and styled letters become plain
   ones), case folded, accents and format characters (zero-width spaces and joiners, word
   joiner, BOM, soft hyphen, bidi marks) removed, Latin look-alikes from Cyrillic and Greek
   folded inside mixed-script words, apostrophes dropped ("don't" → "dont"), every other
   punctuation mark, emoji and symbol turned into a space, blanks collapsed.
2. **Match** an ordered rule set (``classify``); the first rule that matches decides, and
   its name goes into the consent ledger's evidence, so every revocation says why it was
   read as one.

   - ``keyword``: the whole message is one keyword (Twilio's defaults, plus ARRET for
     Canadian French, which CWTA requires);
   - ``multi_word``: the whole message is one of the keyword phrases ("opt out", "stop all",
     "stop all messages", "unsubscribe me", "cancel all", "opt me out");
   - ``courtesy``: one keyword, maybe repeated, with nothing else but courtesy and
     emphasis ("stop please", "STOP STOP", "yes please", "stop it", "STOP merci");
   - ``plain:*`` (opt-out only): a sentence that asks us to stop messaging —
     ``plain:unambiguous`` (unsubscribe, opt out, revoke: words about nothing but
     subscriptions), ``plain:stop_messaging`` (stop / quit / end / cancel / halt / cease
     whose object is our messages: "stop texting me", "cancel my subscription" but not
     "cancel my order"), ``plain:messages_stop`` ("these texts need to stop"),
     ``plain:negative_command`` ("don't text me anymore"), ``plain:no_more`` ("no more
     texts"), ``plain:dont_want`` ("I don't want these messages"), ``plain:remove_me``
     ("remove me from your list", "take me off"), ``plain:leave_me_alone``,
     ``plain:lose_my_number``, ``plain:wrong_number``, ``plain:polite_request`` ("can you
     stop texting me?"), ``plain:rhetorical_demand`` ("why won't you stop texting me?"),
     ``plain:bare_stop`` (a sentence "Stop." inside a longer message);
   - ``question`` (help): a question about stopping ("how do I stop these?", "can I
     unsubscribe later?") is not a revocation; it gets the HELP answer, which says how.

   Guards, applied clause by clause (a clause ends at . ! ? ; : , newline or "but"): a
   stop word preceded in its clause by a negation ("don't stop", "I will never
   unsubscribe", "do not cancel my order") does not count; a question does not count
   unless it is a request to us ("can you stop…"); stop, end, cancel and quit count only
   when their object is our messaging (or, for stop and quit, when nothing else is in the
   sentence), so "the bus will stop at the end" and "cancel my order" are ordinary
   messages.

When unsure, the rule leans to revoking: a revocation read where none was meant costs one
message (the customer can reply START), while a revocation missed is a message sent against
the customer's word — the harm the law counts per message. docs/opt-outs.md has the rule,
its reasons and its known limits.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

Kind = Literal["opt_out", "opt_in", "help", "none"]


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# --- the keywords ---------------------------------------------------------------------------

OPT_OUT_KEYWORDS = frozenset(
    {"stop", "stopall", "unsubscribe", "cancel", "end", "quit", "revoke", "optout",
     "arret", "arrete"}
)  # fmt: skip
OPT_IN_KEYWORDS = frozenset({"start", "yes", "unstop"})
HELP_KEYWORDS = frozenset({"help", "info"})
KEYWORDS: dict[str, Kind] = {
    **{w: "opt_out" for w in OPT_OUT_KEYWORDS},
    **{w: "opt_in" for w in OPT_IN_KEYWORDS},
    **{w: "help" for w in HELP_KEYWORDS},
}
MULTI_WORD: dict[str, Kind] = {
    "opt out": "opt_out",
    "opt me out": "opt_out",
    "stop all": "opt_out",
    "stop all messages": "opt_out",
    "unsubscribe me": "opt_out",
    "cancel all": "opt_out",
    "un subscribe": "opt_out",
    "opt in": "opt_in",
}

# Words that add courtesy or emphasis and nothing else, in the languages customers mix in.
COURTESY = _words(
    """please pls plz pleas now immediately asap right away just already thanks thank you thx
    ty ok okay hey hi hello seriously sir maam guys lol omg god oh all kindly really for good
    me ever anymore again forever everything thankyou merci svp sil vous plait por favor
    gracias bitte danke grazie per favore obrigado obrigada"""
)
PRONOUNS = frozenset({"it", "this", "that", "these", "those", "them"})

# --- the plain-language vocabulary ---------------------------------------------------------

# Words that mean leaving a subscription and nothing else.
UNAMBIGUOUS = frozenset(
    {"unsubscribe", "unsubscribed", "unsubscribing", "unsub", "optout", "revoke", "revoked",
     "revoking", "stopall", "unsubcribe", "unsuscribe", "unsubscibe", "unsubsribe"}
)  # fmt: skip
# Verbs that stop something — what, their object says.
STOP_VERBS = frozenset(
    {"stop", "stopping", "quit", "end", "cancel", "halt", "cease", "discontinue", "arret",
     "arrete"}
)  # fmt: skip
# Stop verbs that may stand alone in a sentence ("Stop please.", "quit it").
STANDALONE_VERBS = frozenset({"stop", "quit", "halt", "arret", "arrete"})
# Our messaging, as an object.
MESSAGING = _words(
    """text texts texting txt txts txting message messages messaging msg msgs msging sms
    sending send contacting contact email emails emailing notification notifications alert
    alerts promo promos promotion promotions promotional offers ads advertising marketing
    spam spamming list subscription subscriptions newsletter newsletters updates calling
    calls mailing reminders"""
)
# Words that may stand between a stop verb and its object.
CONNECTORS = _words(
    """me us all these those the this your my any of with from sending receiving getting
    please now just these those ur yr every them all"""
)
# Verbs of messaging a negation turns into a request to stop ("don't text me").
MESSAGING_VERBS = frozenset(
    {"text", "txt", "message", "msg", "contact", "send", "email", "call", "spam", "sms",
     "bother"}
)  # fmt: skip
NEGATORS = frozenset(
    {"dont", "not", "never", "doesnt", "didnt", "wont", "cant", "cannot", "shouldnt",
     "wouldnt", "isnt", "arent", "without", "nor", "neither", "hardly"}
)  # fmt: skip
# Words that may stand between a negation and the verb it governs.
AUXILIARIES = _words(
    """to want wanna going gonna ever please pls i you u we will be able need have had do
    really just wish like plan planning intend try trying let it yet mean meant wanting
    gotta got dare lets even ask asking asked for no ill id"""
)
QUESTION_WORDS = frozenset(
    {"how", "what", "why", "when", "where", "which", "who", "can", "could", "do", "does",
     "should", "is", "will", "would", "may", "am", "are"}
)  # fmt: skip
REQUEST = re.compile(
    r"^(?:(?:can|could|would|will)\s+(?:you|u|ya)|why\s+(?:wont|dont|cant|doesnt|wouldnt)"
    r"\s+(?:you|u|ya|it|this|they))\s+(?:please\s+|pls\s+|plz\s+|kindly\s+|just\s+)*(.+)$"
)
NEGATION_WINDOW = 4  # tokens before a verb a negation reaches
OBJECT_WINDOW = 4  # connectors a stop verb may reach over to its object

# Cyrillic and Greek letters that look like Latin ones, folded only in mixed-script words
# ("SТОР" with a Cyrillic Т, О, Р): a word wholly in Cyrillic is Russian, not a disguise.
LOOKALIKES = str.maketrans(
    "аеорсухітмнвкАЕОРСУХІТМНВКΑΒΕΗΙΚΜΝΟΡΤΥΧοτ",
    "aeopcyxitmhbkaeopcyxitmhbkabehikmnoptyxot",
)
MAX_NORMALISED = 2000  # Twilio's bodies are at most 1,600 characters


@dataclass(frozen=True)
class OptOutMatch:
    """What a message asks for, the rule that decided it, and the text it was read from."""

    kind: Kind
    rule: str  # "keyword", "multi_word", "courtesy", "plain:…", "question", "none"
    normalised: str
    matched: str = ""  # the clause or phrase the rule matched

    @property
    def evidence(self) -> dict[str, str]:
        """What the consent ledger keeps as proof of how the message was read."""
        return {"rule": self.rule, "normalised": self.normalised[:320],
                "matched": self.matched[:320]}  # fmt: skip


# --- normalisation ---------------------------------------------------------------------------

_APOSTROPHES = re.compile(r"['’‘`´ʼ]")
_SPLIT = re.compile(r"[^\w]+")
_REPEATS = re.compile(r"(\w)\1+")


def _clean(text: str) -> str:
    """NFKC, case folded, accents and format characters gone, apostrophes dropped; other
    punctuation kept (the clause splitter needs it)."""
    text = unicodedata.normalize("NFKC", text[: MAX_NORMALISED * 2]).casefold()
    text = "".join(
        ch for ch in unicodedata.normalize("NFKD", text)
        if unicodedata.category(ch) not in ("Cf", "Mn", "Me")
    )  # fmt: skip
    text = unicodedata.normalize("NFC", text)
    return _APOSTROPHES.sub("", text)


def _fold_word(word: str) -> str:
    if word.isascii():
        return word
    folded = word.translate(LOOKALIKES)
    # Only a word that mixes Latin with look-alikes is a disguise.
    return folded if folded.isascii() and any("a" <= ch <= "z" for ch in word) else word


def _tokens(text: str) -> list[str]:
    """Words of cleaned text: emoji, symbols and punctuation are separators; an underscore
    too (it counts as a word character)."""
    return [_fold_word(w) for w in _SPLIT.split(text.replace("_", " ")) if w]


def normalise(text: str) -> str:
    """The message as the rules read it: "  ＳＴＯＰ!! 🛑 " → "stop"."""
    return " ".join(_tokens(_clean(text)))[:MAX_NORMALISED]


def _squeeze(word: str) -> str:
    return _REPEATS.sub(r"\1", word)


_VOCABULARY = (
    set(KEYWORDS) | COURTESY | PRONOUNS | UNAMBIGUOUS | STOP_VERBS | MESSAGING | CONNECTORS
    | MESSAGING_VERBS | {"off", "out", "need", "good"}
)  # fmt: skip
# "stooop", "STOPPP", "pleaseee": letters held down. Exact words win ("off" is not "of").
_SQUEEZED = {
    _squeeze(w): w
    for w in sorted(_VOCABULARY)
    if _squeeze(w) == w or _squeeze(w) not in _VOCABULARY
}


def _canonical(word: str) -> str:
    if word in _VOCABULARY:
        return word
    return _SQUEEZED.get(_squeeze(word), word)


# --- the rules -------------------------------------------------------------------------------


def _alt(words: frozenset[str]) -> str:
    return "|".join(sorted(map(re.escape, words), key=len, reverse=True))


_MESSAGING = _alt(MESSAGING)
# Compiled once: a 1,600-character message may have hundreds of clauses.
PLAIN_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("plain:no_more", re.compile(rf"\b(?:no more|nomore|enough)\b(?: \w+){{0,3}}? (?:{_MESSAGING})\b")),
    ("plain:dont_want", re.compile(
        rf"\b(?:dont|do not|no longer|not) (?:\w+ )?(?:want|wish|need)\b(?: \w+){{0,5}}? "
        rf"(?:{_MESSAGING})\b")),
    ("plain:remove_me", re.compile(
        r"\b(?:remove|delete|drop|erase|unlist|exclude) (?:me|my (?:phone )?(?:number|num|cell|"
        r"phone)|this (?:phone )?number)\b|\btake (?:me|my (?:phone )?number|this number) "
        r"(?:\w+ )?off\b|\btake me out\b")),
    ("plain:leave_me_alone", re.compile(r"\bleave (?:me|us) alone\b")),
    ("plain:lose_my_number", re.compile(r"\blose (?:my|this) (?:phone )?(?:number|num)\b")),
    ("plain:wrong_number", re.compile(r"\bwrong (?:number|num|person)\b")),
)  # fmt: skip
NEGATIVE_COMMAND = re.compile(
    rf"\b(?:dont|do not|never)\s+(?:ever\s+)?(?:{_alt(MESSAGING_VERBS)})"
    r"(?:ing)?\s+(?:me|us|this number|my number)\b(.*)$"
)
COMMAND_TAIL = COURTESY | MESSAGING | PRONOUNS | MESSAGING_VERBS | {
    "at", "number", "any", "more", "here", "on", "or", "and", "a", "single", "other"}  # fmt: skip
HOW_TO = re.compile(r"\bhow (?:to|do|can|would)\b")


def classify(text: str) -> OptOutMatch:
    """What ``text`` asks for; see the module's docstring for the rules, in order."""
    cleaned = _clean(text)
    words = [_canonical(w) for w in _tokens(cleaned)]
    normalised = " ".join(words)[:MAX_NORMALISED]
    if not words:
        return OptOutMatch("none", "none", normalised)
    if len(words) == 1 and words[0] in KEYWORDS:
        return OptOutMatch(KEYWORDS[words[0]], "keyword", normalised, words[0])
    if normalised in MULTI_WORD:
        return OptOutMatch(MULTI_WORD[normalised], "multi_word", normalised, normalised)
    if (courtesy := _courtesy(words)) is not None:
        return OptOutMatch(courtesy, "courtesy", normalised, normalised)
    question = None
    for clause, is_question in _clauses(cleaned):
        if is_question:
            if (rule := _request(clause)) is not None:
                return OptOutMatch("opt_out", rule, normalised, " ".join(clause))
            if question is None and _about_stopping(clause):
                question = " ".join(clause)
            continue
        if (rule := _revocation(clause)) is not None:
            return OptOutMatch("opt_out", rule, normalised, " ".join(clause))
    if question is not None:
        return OptOutMatch("help", "question", normalised, question)
    return OptOutMatch("none", "none", normalised)


def _courtesy(words: list[str]) -> Kind | None:
    """One keyword kind (repeated or not) and only courtesy around it. Opt-out wins over
    opt-in ("yes stop"): the safe reading. Stop and quit may take a pronoun ("stop it")."""
    kinds = {KEYWORDS[w] for w in words if w in KEYWORDS}
    if not kinds:
        return None
    extra = set(PRONOUNS) if any(w in STANDALONE_VERBS for w in words) else set()
    if any(w not in KEYWORDS and w not in COURTESY and w not in extra for w in words):
        return None
    for kind in ("opt_out", "help", "opt_in"):
        if kind in kinds:
            return kind  # type: ignore[return-value]
    return None


_CLAUSE_END = re.compile(r"([.!?;:,\n\r¿¡]+|\bbut\b)")


def _clauses(cleaned: str) -> list[tuple[list[str], bool]]:
    """The clauses of cleaned text, each as canonical words, and whether it is a question
    (ends in "?", starts with a question word, or asks "how to")."""
    parts = _CLAUSE_END.split(cleaned)
    clauses: list[tuple[list[str], bool]] = []
    for index in range(0, len(parts), 2):
        words = [_canonical(w) for w in _tokens(parts[index])]
        if not words:
            continue
        end = parts[index + 1] if index + 1 < len(parts) else ""
        joined = " ".join(words)
        is_question = (
            "?" in end or (words[0] in QUESTION_WORDS and words[1:2] != ["not"])
            or bool(HOW_TO.search(joined))
        )  # fmt: skip
        clauses.append((words, is_question))
    return clauses


def _negated(words: list[str], at: int) -> bool:
    """Whether a negation governs the verb at ``at``: a negator before it with only
    auxiliaries between ("don't stop", "I'm not going to unsubscribe", "didn't ask you to
    stop") — not one a content word separates ("not interested stop texting me")."""
    for i in range(at - 1, max(-1, at - 1 - NEGATION_WINDOW), -1):
        if words[i] in NEGATORS or words[i : i + 2] == ["no", "need"]:
            return True
        if words[i] not in AUXILIARIES:
            return False
    return False


def _request(words: list[str]) -> str | None:
    """A question that asks us to stop: "can you stop texting me?", "why won't you stop?"."""
    found = REQUEST.match(" ".join(words))
    if not found:
        return None
    rest = found.group(1).split()
    if rest[0] == "not" and _negative_command(["dont", *rest[1:]]):
        return "plain:polite_request"  # "can you not text me?"
    if _revocation(rest) is not None or _courtesy(rest) == "opt_out":
        return "plain:rhetorical_demand" if words[0] == "why" else "plain:polite_request"
    if rest[0] in STOP_VERBS and all(w in COURTESY or w in PRONOUNS for w in rest[1:]):
        return "plain:rhetorical_demand" if words[0] == "why" else "plain:polite_request"
    return None


def _about_stopping(words: list[str]) -> bool:
    """A question that mentions leaving our messages ("how do I stop these?")."""
    for i, word in enumerate(words):
        if word in UNAMBIGUOUS or _is_opt_out_phrase(words, i):
            return True
        if word in STOP_VERBS and (
            _object_is_messaging(words, i)
            or ({"i", "we"} & set(words[:i])
                and all(w in COURTESY or w in PRONOUNS for w in words[i + 1 :]))
        ):  # fmt: skip
            return True
    return False


def _is_opt_out_phrase(words: list[str], i: int) -> bool:
    return words[i] == "opt" and (words[i + 1 : i + 2] == ["out"] or words[i + 1 : i + 3] == [
        "me", "out"])  # fmt: skip


def _object_is_messaging(words: list[str], at: int) -> bool:
    """Whether the stop verb at ``at`` acts on our messaging: its object, reached over at
    most OBJECT_WINDOW connectors, is a messaging word."""
    for word in words[at + 1 : at + 2 + OBJECT_WINDOW]:
        if word in MESSAGING:
            return True
        if word not in CONNECTORS:
            return False
    return False


def _revocation(words: list[str]) -> str | None:
    """The plain-language rule that reads this clause as a revocation, or None."""
    joined = " ".join(words)
    has_stop_word = False
    for i, word in enumerate(words):
        phrase = _is_opt_out_phrase(words, i)
        if word in UNAMBIGUOUS or phrase or word in STOP_VERBS:
            has_stop_word = True
            if _negated(words, i):
                return None  # "don't stop", "I will never unsubscribe"
            if word in UNAMBIGUOUS or phrase:
                return "plain:unambiguous"
            if _object_is_messaging(words, i):
                return "plain:stop_messaging"
            rest = words[i + 1 :]
            if word in STANDALONE_VERBS and all(w in COURTESY or w in PRONOUNS for w in rest):
                if all(w in COURTESY for w in words[:i]):
                    return "plain:bare_stop"
                # "these texts need to stop", "make the messages stop"
                if any(w in MESSAGING for w in words[max(0, i - 4) : i]):
                    return "plain:messages_stop"
    if has_stop_word:
        return None
    if _negative_command(words):
        return "plain:negative_command"
    for rule, pattern in PLAIN_PATTERNS:
        if pattern.search(joined):
            return rule
    return None


def _negative_command(words: list[str]) -> bool:
    """ "don't text me (anymore)", "do not contact me", "never message me again": a negated
    messaging verb with us as its subject and the customer as its object."""
    found = NEGATIVE_COMMAND.search(" ".join(words))
    # "don't text me before 9": a request about timing, not a revocation.
    return found is not None and all(w in COMMAND_TAIL for w in found.group(1).split())
