"""The vocabulary: id rules, unknown tokens, min_freq, decoding."""

import pytest

from rnnkit.data.vocab import Vocab
from rnnkit.errors import ConfigError


def test_ids_follow_frequency_then_alphabet_after_specials():
    vocab = Vocab(["b", "c", "a", "c", "b", "d"])
    # b and c twice (alphabetical tie-break), then a and d once.
    assert vocab.id_to_token == ["<pad>", "<unk>", "b", "c", "a", "d"]
    assert vocab.vocab_size == len(vocab) == 6


def test_min_freq_sends_rare_tokens_to_unk():
    vocab = Vocab("aaabbc", min_freq=2)
    assert vocab.id_to_token == ["<pad>", "<unk>", "a", "b"]
    assert vocab.encode("cab").tolist() == [1, 2, 3]


def test_seq2seq_vocab_reserves_start_and_end_and_decode_stops_at_end():
    vocab = Vocab(["hello", "world"], seq2seq=True, separator=" ")
    assert vocab.id_to_token[:4] == ["<pad>", "<unk>", "<start>", "<end>"]
    ids = [vocab.start_id, *vocab.encode(["world", "hello"], add_end=True), 0, 0]
    assert vocab.decode(ids) == "world hello"
    assert vocab.decode([5, vocab.end_id, 4]) == "world"


def test_bad_vocab_arguments():
    with pytest.raises(ConfigError, match=r"`min_freq`: got 0; expected a positive integer"):
        Vocab("abc", min_freq=0)
    with pytest.raises(ConfigError, match=r"`add_end`: got True; expected False for a vocabulary without <end>"):
        Vocab("abc").encode("a", add_end=True)


def test_separator_must_be_a_string():
    with pytest.raises(ConfigError, match=r"`separator`: got None; expected a string such as '' or ' '"):
        Vocab("ab", separator=None)
