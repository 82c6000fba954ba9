"""Small stdlib helpers shared by the example-data generators.

Every generator seeds its own ``random.Random`` so the output is byte-for-byte
reproducible; nothing here keeps global state.
"""

import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLES = os.path.dirname(HERE)

# Keyboard-neighbour typos people actually make.
_NEAR = {
    "a": "s",
    "s": "a",
    "e": "r",
    "r": "e",
    "i": "o",
    "o": "i",
    "n": "m",
    "m": "n",
    "t": "r",
    "u": "y",
    "y": "u",
    "d": "s",
    "l": "k",
    "c": "v",
}


def typo(rng, text, n=1):
    """Introduce ``n`` small typos (swap, drop, double or near-key) in words of 5+ letters."""
    words = text.split(" ")
    idx = [i for i, w in enumerate(words) if len(w) >= 5 and w.isalpha()]
    rng.shuffle(idx)
    for i in idx[:n]:
        w = words[i]
        k = rng.randrange(1, len(w) - 2)
        kind = rng.randrange(4)
        if kind == 0:
            w = w[:k] + w[k + 1] + w[k] + w[k + 2 :]
        elif kind == 1:
            w = w[:k] + w[k + 1 :]
        elif kind == 2:
            w = w[:k] + w[k] + w[k:]
        else:
            c = w[k].lower()
            w = w[:k] + _NEAR.get(c, c) + w[k + 1 :]
        words[i] = w
    return " ".join(words)


def casual(rng, text):
    """Make text look typed in a hurry: lowercase start or all lowercase, dropped final period."""
    r = rng.random()
    if r < 0.45:
        text = text.lower()
    elif r < 0.75 and text and not text[1:2].isupper():
        text = text[0].lower() + text[1:]
    if text.endswith(".") and rng.random() < 0.6:
        text = text[:-1]
    text = text.replace(" I'm ", " im " if rng.random() < 0.3 else " I'm ")
    return text


def pick(rng, seq):
    return seq[rng.randrange(len(seq))]


def write_jsonl(path, rows):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


def dedupe(rows, key):
    seen = set()
    out = []
    for row in rows:
        k = key(row)
        if k in seen:
            continue
        seen.add(k)
        out.append(row)
    return out


def split(rng, rows, n_eval):
    rows = list(rows)
    rng.shuffle(rows)
    return rows[n_eval:], rows[:n_eval]
