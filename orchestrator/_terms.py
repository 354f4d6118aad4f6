"""Words for routing: one tokenizer for task text and card terms, so both sides agree.

Whole words, case-insensitive. A token is a run of letters and digits with any `+`
or `#` glued to its end (`c++`, `c#`); a `.` or `/` directly before a letter or digit
is a token of its own, so `node.js`, `ci/cd` and `.net` keep their shape and match
only themselves, while `node` still matches inside `node.js`. `-`, `_` and spaces
separate words (`end-to-end` is `end to end`). A trailing plural `s` is ignored on
words of four letters or more (`tests` is `test`, `migrations` is `migration`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_TOKEN = re.compile(r"[^\W_]+[+#]*|[./](?=[^\W_])")
_MENTION = re.compile(r"@?[^\W_]+(?:[-_][^\W_]+)*")
_CONNECTORS = frozenset({".", "/"})


@dataclass(frozen=True)
class Token:
    """One word of a text, folded for comparison, with where it sits in the original."""

    word: str
    start: int
    end: int


def fold(word: str) -> str:
    """The comparable form of one token: lower case, trailing plural `s` dropped."""
    word = word.lower()
    if len(word) >= 4 and word.endswith("s") and not word.endswith("ss") and word[-2].isalpha():
        return word[:-1]
    return word


def tokenize(text: str) -> list[Token]:
    """The tokens of `text`, in order (see the module docstring for what a token is)."""
    return [Token(fold(m.group()), m.start(), m.end()) for m in _TOKEN.finditer(text)]


def term(text: str) -> tuple[str, ...]:
    """The folded token sequence a card term must appear as, contiguously, in the task."""
    return tuple(t.word for t in tokenize(text))


def mentions(text: str) -> dict[str, tuple[int, int]]:
    """Hyphenated words (`security-expert`) and `@word`s in `text`, lower case, each with the
    span of its first occurrence: how a task names an agent by id."""
    found: dict[str, tuple[int, int]] = {}
    for match in _MENTION.finditer(text):
        word = match.group().lower()
        if word.startswith("@"):
            found.setdefault(word[1:], match.span())
        elif "-" in word or "_" in word:
            found.setdefault(word, match.span())
    return found


def content_words(text: str) -> list[str]:
    """Folded single words of `text` that can say what a card is about: no stop words,
    no numbers, no connectors, at least two characters."""
    words: list[str] = []
    for token in tokenize(text):
        word = token.word
        if word in _CONNECTORS or word in STOPWORDS or len(word) < 2 or word.rstrip("+#").isdigit():
            continue
        words.append(word)
    return words


_STOP_TEXT = """
    a an the and or nor but if then else so than as at by for from in into onto of off on out over
    under up down to via per with within without about above below across after before between
    through during until against among around is are was were be been being am it its this that
    these those there here who whom whose which what when where why how all any both each every
    either neither some such no not only own same other others more most less least very too also
    just again further once can could will would shall should may might must do does did done doing
    has have had having i me my we us our you your he him his she her they them their one two three
    first second new etc e g ie eg vs
    add adds added make makes making made use uses using used build builds building built create
    design designs designed designing verify verifies verified verifying implement implements
    implemented implementing
    creates creating created write writes writing written turn turns keep keeps take takes taking get
    gets set sets run runs running need needs needed want help helps work works working
    way ways thing things like well good best better focus focused focuses specialise specialize
    specialising specializing specialised specialized expert expertise specialist developer engineer
    engineers agent agents senior lead owner owns own team teams practice practices pattern patterns
    including include includes based across end ends full level levels modern real world
"""
STOPWORDS = frozenset(fold(w) for w in _STOP_TEXT.split())
"""Words too common to say which card a task is for; they never count as implied terms."""
