"""Report text: sections, sentences, mentions with negation/uncertainty, and the labeller.

``label(texts)`` is the entry point (also ``radlens.label``); rules are data files in
``radlens/text/rules/``.
"""

from radlens.text.labeler import label
from radlens.text.sections import split_sections
from radlens.text.sentences import split_sentences

__all__ = ["label", "split_sections", "split_sentences"]
