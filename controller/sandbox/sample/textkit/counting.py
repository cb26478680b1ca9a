"""Counting words in text."""


def word_count(text: str) -> int:
    """The number of words in `text`, words being separated by whitespace."""
    if not text:
        return 0
    return len(text.split(" "))
