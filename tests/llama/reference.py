#!/usr/bin/python3
"""tests/llama/reference.py MODEL.gguf GGUF_PY_DIR < texts (one a line)

An independent forward pass of a `nomic-bert` GGUF (as scripts/tiny-model.py
writes it: fused QKV, no biases but the norms', SwiGLU FFN, NeoX RoPE) in
numpy, float64: WordPiece tokenization (lower-case, split at white space and
punctuation, longest match with the U+2581 word-start marker, [CLS] ...
[SEP]), token + type-0 embedding, embedding norm, the layers, mean pooling,
L2 normalisation.  Prints one line per text: the vector's elements.
"""
import sys

sys.path.insert(0, sys.argv[2])
import numpy as np  # noqa: E402
import gguf  # noqa: E402

WS = "\u2581"
r = gguf.GGUFReader(sys.argv[1])


def kv(name):
    f = r.fields[name]
    if len(f.types) and f.types[0] == gguf.GGUFValueType.ARRAY:
        if f.types[-1] == gguf.GGUFValueType.STRING:
            return [bytes(f.parts[i]).decode() for i in f.data]
        return [f.parts[i][0] for i in f.data]
    v = f.parts[f.data[0]]
    return bytes(v).decode() if f.types[0] == gguf.GGUFValueType.STRING else v[0]


T = {t.name: np.array(t.data, dtype=np.float64).reshape([int(x) for x in reversed(t.shape)]) for t in r.tensors}
arch = kv("general.architecture")
n_embd = int(kv(f"{arch}.embedding_length"))
n_head = int(kv(f"{arch}.attention.head_count"))
n_layer = int(kv(f"{arch}.block_count"))
eps = float(kv(f"{arch}.attention.layer_norm_epsilon"))
base = float(kv(f"{arch}.rope.freq_base"))
toks = kv("tokenizer.ggml.tokens")
ids = {t: i for i, t in enumerate(toks)}
cls, sep, unk = (int(kv(f"tokenizer.ggml.{k}_token_id")) for k in ("bos", "seperator", "unknown"))
maxlen = max(len(t) for t in toks)


def tokenize(text):
    words, cur = [], ""
    for ch in text.lower():
        if ch.isspace():
            if cur:
                words.append(cur)
            cur = ""
        elif not ch.isalnum() and ord(ch) < 0x80:  # ASCII punctuation and symbols
            if cur:
                words.append(cur)
            words.append(ch)
            cur = ""
        else:
            cur += ch
    if cur:
        words.append(cur)
    out = [cls]
    for w in words:
        w1, i, got = WS + w, 0, []
        while i < len(w1):
            for j in range(min(len(w1), i + maxlen + 1), i, -1):
                if w1[i:j] in ids:
                    got.append(ids[w1[i:j]])
                    i = j
                    break
            else:
                got = []
                break
        out += got or [unk]
    return out + [sep]


def ln(x, name):
    m = x.mean(-1, keepdims=True)
    v = ((x - m) ** 2).mean(-1, keepdims=True)
    return (x - m) / np.sqrt(v + eps) * T[name + ".weight"] + T[name + ".bias"]


def rope(x):  # x: (n, heads, d), NeoX: pairs (i, i + d/2)
    n, _, d = x.shape
    half = d // 2
    theta = np.arange(n)[:, None] * base ** (-2.0 * np.arange(half) / d)[None, :]
    c, s = np.cos(theta)[:, None, :], np.sin(theta)[:, None, :]
    x0, x1 = x[..., :half], x[..., half:]
    return np.concatenate([x0 * c - x1 * s, x0 * s + x1 * c], -1)


def embed(text):
    t = tokenize(text)
    x = T["token_embd.weight"][t] + T["token_types.weight"][0]
    x = ln(x, "token_embd_norm")
    n, hd = len(t), n_embd // n_head
    for i in range(n_layer):
        b = f"blk.{i}."
        q, k, v = np.split(x @ T[b + "attn_qkv.weight"].T, 3, axis=-1)
        q, k, v = (a.reshape(n, n_head, hd) for a in (q, k, v))
        q, k = rope(q), rope(k)
        a = np.einsum("qhd,khd->hqk", q, k) / np.sqrt(hd)
        a = np.exp(a - a.max(-1, keepdims=True))
        a /= a.sum(-1, keepdims=True)
        o = np.einsum("hqk,khd->qhd", a, v).reshape(n, n_embd) @ T[b + "attn_output.weight"].T
        x = ln(o + x, b + "attn_output_norm")
        g = x @ T[b + "ffn_gate.weight"].T
        f = ((g / (1 + np.exp(-g))) * (x @ T[b + "ffn_up.weight"].T)) @ T[b + "ffn_down.weight"].T
        x = ln(f + x, b + "layer_output_norm")
    m = x.mean(0)
    return m / np.linalg.norm(m), t


for line in sys.stdin:
    e, t = embed(line.rstrip("\n"))
    print(" ".join(f"{v:.7f}" for v in e))
