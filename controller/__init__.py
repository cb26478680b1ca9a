"""A supervisor, written as plain code, that turns GitHub issues into coding-agent runs.

Nothing here calls a language model: the controller reads GitHub, git and tmux, decides
with pure functions, and records every step in per-issue YAML files under git.
"""

__version__ = "0.1.0"
