"""textkit: small text and number helpers."""
