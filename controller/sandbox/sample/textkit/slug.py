"""Turning titles into URL slugs."""

import re


def slugify(text: str) -> str:
    """Lowercase `text` and join its words with dashes: "Hello World" -> "hello-world"."""
    lowered = text.strip().lower()
    return re.sub(r"[^a-z0-9]", "-", lowered).strip("-")
