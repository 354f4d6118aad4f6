"""A card's role (code, test, review, ops, docs, notify): which phases it may serve by default.

A card that lists deliverables has chosen its phases. A card that lists none (most cards
people bring) serves the phases whose `default_roles` include its role, with the phase's
`default_deliverables`. The role is read from the card's own summary first (its id and
name: `slack-notifier` is `notify`), and only when those say nothing from the opening clause
of its purpose or description (`Posts Slack notifications to ...`); a card that names no
role word there writes code. Only the opening clause counts because later clauses list what
the card also touches (`... and the tests that keep them honest`), not what it is.
docs/routing.md explains the rule and the table.
"""

from __future__ import annotations

import re

from orchestrator._terms import fold, tokenize
from orchestrator.cards import AgentCard

ROLES = ("code", "test", "review", "ops", "docs", "notify")
"""Every role, in display order; `code` is the default."""

_ROLE_TEXT = {
    "test": "test tester testing qa tdd coverage automator e2e quality",
    "review": "review reviewer audit auditor auditing security compliance pentest pentester",
    "ops": "ops devops sre infrastructure infra cloud kubernetes k8s terraform docker deploy deployment "
    "ci cicd platform",
    "docs": "writer documentation docs doc changelog tutorial readme",
    "notify": "slack notifier notification notify announcer chatops discord email pager",
}
ROLE_WORDS: dict[str, frozenset[str]] = {
    role: frozenset(fold(w) for w in text.split()) for role, text in _ROLE_TEXT.items()
}
"""Words that say a card's role, folded as the tokenizer folds a card's words (`kubernetes` is
`kubernete`), so each one can match."""


_CLAUSE = re.compile(r"[.,;:!?()]|\s(?:and|with|for|who|that|which)\s")


def card_roles(card: AgentCard) -> tuple[str, ...]:
    """The card's roles, in ROLES order: from its id and name, else its stated use, else `code`."""
    summary = f"{card.id.replace('-', ' ').replace('_', ' ')} {card.name}"
    opening = _CLAUSE.split(card.purpose.strip(), maxsplit=1)[0]
    for text in (summary, opening):
        words = {t.word for t in tokenize(text)}
        found = tuple(role for role in ROLES if role in ROLE_WORDS and words & ROLE_WORDS[role])
        if found:
            return found
    return ("code",)
