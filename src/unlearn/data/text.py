"""Character corpora (Alice in Wonderland, Tiny Shakespeare) for the canary experiment."""

from __future__ import annotations

import torch
from torch.utils.data import Dataset

from .arrays import DataBundle
from .sources import fetch


class CharCorpus(Dataset):
    """A text cut into non-overlapping windows: item i is (ids[s:s+L], ids[s+1:s+L+1])."""

    def __init__(self, text: str, vocab: list[str], seq_len: int = 64):
        unknown = set(text) - set(vocab)
        if unknown:
            raise ValueError(f"characters {sorted(unknown)[:10]} are not in the vocabulary")
        self.text, self.vocab, self.seq_len = text, list(vocab), seq_len
        self.stoi = {c: i for i, c in enumerate(self.vocab)}
        self.ids = self.encode(text)  # (T,)

    def encode(self, s: str) -> torch.Tensor:
        return torch.tensor([self.stoi[c] for c in s], dtype=torch.long)

    def decode(self, ids) -> str:
        return "".join(self.vocab[int(i)] for i in ids)

    def with_text(self, text: str) -> "CharCorpus":
        """The same vocabulary and window length over another text (e.g. with a canary inserted)."""
        return CharCorpus(text, self.vocab, self.seq_len)

    def __len__(self) -> int:
        return max(0, (len(self.ids) - 1) // self.seq_len)

    def __getitem__(self, i):
        s = i * self.seq_len
        chunk = self.ids[s : s + self.seq_len + 1]
        return chunk[:-1], chunk[1:]


def _strip_gutenberg(text: str) -> str:
    start, end = text.find("*** START"), text.find("*** END")
    if start != -1 and end != -1:
        text = text[text.index("\n", start) + 1 : end]
    return text.strip()


def _corpus(name: str, text: str, seq_len: int, test_fraction: float = 0.1) -> DataBundle:
    # printable ASCII plus newline, so any canary or replacement string can be encoded
    vocab = sorted(set(text) | {chr(c) for c in range(32, 127)} | {"\n"})
    cut = int(len(text) * (1 - test_fraction))
    train, test = CharCorpus(text[:cut], vocab, seq_len), CharCorpus(text[cut:], vocab, seq_len)
    return DataBundle(name, train, test, vocab, {"vocab": vocab, "text": text})


def load_alice(seq_len: int = 64) -> DataBundle:
    """Alice's Adventures in Wonderland (Project Gutenberg #11), the canary corpus of Warnecke et al."""
    path = fetch("alice", "alice/alice_in_wonderland.txt", url="https://www.gutenberg.org/files/11/11-0.txt")
    raw = path.read_text(encoding="utf-8", errors="ignore")
    text = "".join(c for c in _strip_gutenberg(raw) if c == "\n" or 32 <= ord(c) < 127)
    return _corpus("alice", text, seq_len)


def load_tinyshakespeare(seq_len: int = 64) -> DataBundle:
    """Tiny Shakespeare (Karpathy's char-rnn corpus, 1,115,394 characters)."""
    url = "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"
    text = fetch("tinyshakespeare", "tinyshakespeare/input.txt", url=url).read_text(encoding="utf-8")
    return _corpus("tinyshakespeare", text, seq_len)
