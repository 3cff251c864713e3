"""Sentence templates for the vision-language model (data files)."""
