"""Masking what looks like a credential in text the controller shows or keeps.

An agent that skips its permission prompts may print anything it finds: an
environment dump, a config file, a `curl -H "Authorization: ..."` it ran. Its screen
is shown by `controller peek`, and error text from GitHub or git can quote a request.
Whatever of that leaves the terminal (pasted into a bug report, kept in a log) must
not carry a working key, so such text passes through `mask` first.

The patterns are the shapes the common providers give their keys, plus the
credentials that protocols carry in the clear (an Authorization header, a password in
a URL, a private key block); a known secret (the controller's own token) is masked
wherever it appears, whatever its shape. The masked form keeps the key's kind
(`ghp_***`), so a person still sees what was there. This module does no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MASK = "***"

# (pattern, group to keep): the kept group names the kind of key, the rest is masked.
_SHAPES = [
    # GitHub: personal, OAuth, user-to-server, server-to-server, refresh; fine-grained.
    r"\b(gh[pousr]_)[A-Za-z0-9]{20,}",
    r"\b(github_pat_)[A-Za-z0-9_]{20,}",
    # Anthropic and OpenAI style keys (sk-ant-..., sk-proj-..., sk-...).
    r"\b(sk-(?:ant-|proj-)?)[A-Za-z0-9_-]{16,}",
    # AWS access key ids, Slack and GitLab tokens, Google API keys.
    r"\b((?:AKIA|ASIA))[0-9A-Z]{16}\b",
    r"\b(xox[abprs]-)[A-Za-z0-9-]{10,}",
    r"\b(glpat-)[A-Za-z0-9_-]{20,}",
    r"\b(AIza)[0-9A-Za-z_-]{35}",
    # A prefix only a key has, at the end of a line: the rest of the key is on the next
    # line (see _WRAPPED_TAIL), and the part here may be too short for the shapes above.
    r"\b(gh[pousr]_|github_pat_|sk-ant-|sk-proj-|glpat-|xox[abprs]-)[A-Za-z0-9_-]*"
    r"(?=[ \t]*[│┃|]?[ \t]*\n)",
    # Credentials a protocol carries in the clear.
    r"\b((?i:(?:proxy-)?authorization:\s*(?:bearer|token|basic)\s+))[A-Za-z0-9._~+/=-]+",
    r"\b((?i:bearer|token)\s+)(?=[A-Za-z0-9._~+/-]{20,})[A-Za-z0-9._~+/=-]+",
    r"(\b[a-z][a-z0-9+.-]*://[^/\s:@]+:)[^/\s@]+(?=@)",
    # A value assigned to a name that says it is secret is masked however short it is:
    # `password=hunter2` is as much a credential as a 40-character one.
    r"\b((?i:[a-z0-9_]*(?:api[_-]?key|secret|password|passwd|passphrase|token))"
    r"[\"']?\s*[:=]\s*[\"']?)[^\s\"']+",
]
_PATTERN = re.compile("|".join(f"(?:{shape})" for shape in _SHAPES))
_PRIVATE_KEY = re.compile(
    r"(-----BEGIN [A-Z ]*PRIVATE KEY-----).*?(?:-----END [A-Z ]*PRIVATE KEY-----|\Z)",
    re.DOTALL,
)

# A program that draws its own screen (Claude Code does) breaks a long line itself, so
# even a capture that joins the terminal's wraps shows a token's tail on the next line,
# where it no longer looks like a key. A mask that ends its line is taken to go on there:
# the next line's first run of key characters (after indent or a box border) is masked
# too, when it is long enough that it cannot be a short word.
_WRAPPED_TAIL = re.compile(
    r"(\*\*\*[ \t]*[│┃|]?[ \t]*\n[ \t]*(?:[│┃|⎿][ \t]*)?)"
    r"[A-Za-z0-9_+/=.~-]{8,}(?=[\s\"'`,;)\]}│┃|]|\Z)"
)


def _keep_kind(match: re.Match[str]) -> str:
    kind = next((group for group in match.groups() if group is not None), "")
    return kind + MASK


def mask(text: str, known: Iterable[str | None] = ()) -> str:
    """`text` with every known secret and anything shaped like a credential masked."""
    for secret in sorted(filter(None, known), key=len, reverse=True):
        if len(secret) >= 8:  # a short value would mask ordinary words
            text = text.replace(secret, MASK)
    text = _PRIVATE_KEY.sub(lambda m: m.group(1) + MASK, text)
    text = _PATTERN.sub(_keep_kind, text)
    wrapped = 1
    while wrapped:  # a tail that fills its line too goes on to the line after
        text, wrapped = _WRAPPED_TAIL.subn(lambda m: m.group(1) + MASK, text)
    return text


__all__ = ["MASK", "mask"]
