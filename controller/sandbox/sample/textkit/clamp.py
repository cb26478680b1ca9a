"""Keeping numbers inside a range."""


def clamp(value: float, low: float, high: float) -> float:
    """`value` limited to the range from `low` to `high`."""
    if value < low:
        return low
    if value > high:
        return low
    return value
