"""Argument types and the parser class every `rnnbow` command shares: one-line messages, never a usage block."""

from __future__ import annotations

import argparse
import math
import sys

PROG = "rnnbow"


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a bad argument in one line, without the usage block."""

    def error(self, message):
        sys.stderr.write(f"{self.prog}: {message} (see {self.prog} --help)\n")
        sys.exit(2)


def whole_number(minimum: int, maximum: int | None = None):
    """An argparse type accepting whole numbers from minimum to maximum, with a one-line message otherwise."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got '{text}'") from None
        if value < minimum:
            bound = "greater than 0" if minimum == 1 else f"{minimum} or more"
            raise argparse.ArgumentTypeError(f"must be {bound}, got {value}")
        if maximum is not None and value > maximum:
            raise argparse.ArgumentTypeError(f"must be at most {maximum}, got {value}")
        return value

    return parse


positive_int = whole_number(1)
nonnegative_int = whole_number(0)


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got '{text}'") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive finite number, got {text}")
    return value


def fraction(text: str) -> float:
    value = positive_float(text)
    if value >= 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def count(number: int, singular: str, plural: str | None = None) -> str:
    """'1 record', '2,000 records'."""
    return f"{number:,} {singular if number == 1 else plural or singular + 's'}"


def one_line(message) -> str:
    return " ".join(str(message).split())
