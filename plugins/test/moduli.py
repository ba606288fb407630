"""Jinja test for /etc/ssh/moduli lines, used by the ssh role."""

from __future__ import annotations


def moduli_at_least(line: str, min_size: int) -> bool:
    """True for a comment line, or a modulus whose size field is at least min_size.

    A moduli(5) line is: time type tests tries size generator modulus. The size
    field is the modulus length in bits minus one (3071 for a 3072-bit modulus).
    """
    stripped = line.strip()
    if stripped.startswith("#"):
        return True
    fields = stripped.split()
    if len(fields) != 7 or not fields[4].isdigit():
        return False
    return int(fields[4]) >= min_size


class TestModule:
    def tests(self):
        return {"moduli_at_least": moduli_at_least}
