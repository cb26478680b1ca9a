"""Human-readable durations."""


def format_duration(seconds: int) -> str:
    """Format a number of seconds as "2m 5s"."""
    minutes, rest = divmod(seconds, 60)
    if minutes:
        return f"{minutes}m {rest}s"
    return f"{rest}s"
