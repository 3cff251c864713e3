"""Grounded question answering over a reading: question -> intent and slots -> an `Answer`
computed only from the `Interpretation`, with its evidence, or "cannot answer: <reason>".

    from radlens.tasks.ask import ask
    reply = ask(interpretation, "Is there a pleural effusion?")
    reply.answer, reply.answered, reply.evidence

Rules and vocabularies are data files in this package (``intents.tsv``, ``findings.tsv``,
``words.tsv``, ``answers.json``); finding words and negation come from the report labeller
(`radlens.text`). See ``docs/ask.md``.
"""

from __future__ import annotations

from radlens.tasks.ask.answer import answer, heart_ratio
from radlens.tasks.ask.parse import normalise, parse

ask = answer

__all__ = ["answer", "ask", "heart_ratio", "normalise", "parse"]
