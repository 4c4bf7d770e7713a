"""The vocabulary: tokens <-> integer ids, with padding, unknown, start and end tokens.

Ids are fixed by a rule, so the same tokens always give the same ids:

- 0 is `"<pad>"` (padding; Keras `mask_zero=True` skips it), 1 is `"<unk>"` (any token
  that is not in the vocabulary);
- seq2seq vocabularies add 2 = `"<start>"` and 3 = `"<end>"`;
- then the tokens seen at least `min_freq` times, most frequent first, ties broken
  alphabetically.

Example:

>>> vocab = Vocab("banana")
>>> vocab.id_to_token
['<pad>', '<unk>', 'a', 'n', 'b']
>>> vocab.encode("nab?").tolist()
[3, 2, 4, 1]
>>> vocab.decode([4, 2, 3, 0, 0])
'ban'
"""

from __future__ import annotations

import collections
from collections.abc import Iterable

import numpy as np

from rnnkit.checks import check_bool, check_positive_int, invalid

PAD, UNK, START, END = "<pad>", "<unk>", "<start>", "<end>"


class Vocab:
    """Maps tokens to ids and back.

    Args:
        tokens: The tokens to count (a string counts its characters; a list of words
            counts words). Usually the training part of a corpus only.
        min_freq: Tokens seen fewer times than this map to `"<unk>"`. Default 1.
        seq2seq: Reserve `"<start>"` (id 2) and `"<end>"` (id 3) for decoders. Default False.
        separator: What `decode` puts between tokens: `""` for characters, `" "` for words.

    Example:

    >>> target = Vocab("0123456789", seq2seq=True)
    >>> target.encode("42", add_end=True).tolist()
    [8, 6, 3]
    """

    def __init__(self, tokens: Iterable[str] = (), min_freq: int = 1, seq2seq: bool = False,
                 separator: str = ""):
        check_positive_int("min_freq", min_freq)
        check_bool("seq2seq", seq2seq)
        if not isinstance(separator, str):
            raise invalid("separator", separator, "a string such as '' or ' '")
        self.counts = collections.Counter(tokens)
        self.min_freq = min_freq
        self.separator = separator
        specials = [PAD, UNK] + ([START, END] if seq2seq else [])
        kept = [
            token for token, count in self.counts.items()
            if count >= min_freq and token not in specials
        ]
        kept.sort(key=lambda token: (-self.counts[token], token))
        self.id_to_token = specials + kept
        self.token_to_id = {token: index for index, token in enumerate(self.id_to_token)}
        self.pad_id = 0
        self.unk_id = 1
        self.start_id = 2 if seq2seq else None
        self.end_id = 3 if seq2seq else None

    def __len__(self) -> int:
        return len(self.id_to_token)

    @property
    def vocab_size(self) -> int:
        """Number of ids, specials included (the width of a softmax over this vocabulary)."""
        return len(self.id_to_token)

    def __repr__(self) -> str:
        return f"Vocab(vocab_size={self.vocab_size}, min_freq={self.min_freq})"

    def encode(self, tokens: Iterable[str], add_end: bool = False) -> np.ndarray:
        """Returns the int32 ids of `tokens` (unknown tokens become `unk_id`).

        Args:
            tokens: A string (its characters) or a list of tokens.
            add_end: Append `end_id` (seq2seq vocabularies only).
        """
        ids = [self.token_to_id.get(token, self.unk_id) for token in tokens]
        if add_end:
            if self.end_id is None:
                raise invalid("add_end", add_end, "False for a vocabulary without <end> (seq2seq=False)")
            ids.append(self.end_id)
        return np.asarray(ids, dtype=np.int32)

    def to_tokens(self, ids: Iterable[int]) -> list[str]:
        """Returns the tokens of `ids`, stopping at `<end>` and dropping `<pad>` and `<start>`."""
        tokens = []
        for index in ids:
            index = int(index)
            if self.end_id is not None and index == self.end_id:
                break
            if index == self.pad_id or (self.start_id is not None and index == self.start_id):
                continue
            tokens.append(self.id_to_token[index] if 0 <= index < len(self) else UNK)
        return tokens

    def decode(self, ids: Iterable[int]) -> str:
        """Returns the text of `ids`, joined with `separator` (stops at `<end>`, drops padding)."""
        return self.separator.join(self.to_tokens(ids))
