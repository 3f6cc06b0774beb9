"""Token labels: the text a token id stands for (a character or a word of a vocabulary), or the id itself."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import overload

NOT_RECORDED = -1  # a token id the recorder was not given (a real-valued series, or tokens left out)


class IdLabels(Sequence[str]):
    """The labels of a session recorded without a vocabulary: every token id reads as its own number.

    As long as every id an int32 column holds; it cannot be listed (that would be two billion labels).
    """

    SIZE = 2**31 - 1

    def __len__(self) -> int:
        return self.SIZE

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[str]: ...

    def __getitem__(self, index):
        if isinstance(index, slice):
            raise TypeError("the labels of a session without a vocabulary cannot be sliced")
        i = int(index)
        if not 0 <= i < self.SIZE:
            raise IndexError(f"token id {i} out of range")
        return str(i)

    def __iter__(self) -> Iterator[str]:
        raise TypeError("the labels of a session without a vocabulary cannot be listed")

    def __eq__(self, other) -> bool:
        return isinstance(other, IdLabels)

    def __hash__(self) -> int:
        return hash(IdLabels)

    def __repr__(self) -> str:
        return "IdLabels()"


def token_label(labels: Sequence[str], token_id) -> str:
    """The label of one token id; "" for an id that was not recorded."""
    i = int(token_id)
    return "" if i == NOT_RECORDED else labels[i]


def is_character_vocabulary(labels: Sequence[str]) -> bool:
    """Whether every label is one character (RNNbow's own corpora), so that labels can be drawn one per cell."""
    return not isinstance(labels, IdLabels) and all(len(label) == 1 for label in labels)
