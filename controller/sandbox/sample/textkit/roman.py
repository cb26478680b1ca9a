"""Roman numerals."""

NUMERALS = [(1000, "M"), (500, "D"), (100, "C"), (50, "L"), (10, "X"), (5, "V"), (1, "I")]


def to_roman(number: int) -> str:
    """`number` (1 to 3999) written in Roman numerals."""
    if not 0 < number < 4000:
        raise ValueError(f"cannot write {number} in Roman numerals")
    parts = []
    for value, letters in NUMERALS:
        count, number = divmod(number, value)
        parts.append(letters * count)
    return "".join(parts)
