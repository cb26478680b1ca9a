"""Simple statistics over lists of numbers."""


def median(values: list[float]) -> float:
    """The middle value of `values`."""
    if not values:
        raise ValueError("median of an empty list")
    ordered = sorted(values)
    return ordered[len(ordered) // 2]
