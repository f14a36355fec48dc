#!/usr/bin/python3
"""scripts/tiny-model.py OUT.gguf [GGUF_PY_DIR] [NAME=VALUE...]

Writes a tiny `nomic-bert` embedding model for tests: 2 layers, hidden 64,
4 heads, SwiGLU FFN of 128, RoPE (NeoX), mean pooling, a WordPiece
vocabulary of a few hundred pieces, seeded random f32 weights (~0.5 MB).
NAME=VALUE settings make other sizes, e.g. the shape of nomic-embed-text
for benchmarks (hidden=768 layers=12 heads=12 ff=3072 ctx=2048
type=q8_0): hidden, layers, heads, ff, ctx, seed, and type (f32, f16 or
q8_0: the weight matrices; embeddings and norms stay f32).
It means nothing; it exercises llama.cpp's loader, tokenizer and BERT graph
so that an independent numpy forward pass (tests/llama/reference.py) can be
compared with llama.cpp's output.  Needs python3-numpy and llama.cpp's
gguf-py (default: build/llama/src/gguf-py, from scripts/llama-build.sh).
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
POS = [a for a in sys.argv[1:] if "=" not in a]
SET = dict(a.split("=", 1) for a in sys.argv[1:] if "=" in a)
GGUF_PY = POS[1] if len(POS) > 1 else os.path.join(HERE, "..", "build", "llama", "src", "gguf-py")
sys.path.insert(0, GGUF_PY)

import numpy as np  # noqa: E402
import gguf  # noqa: E402

KNOWN = {"hidden", "layers", "heads", "ff", "ctx", "seed", "type"}
if set(SET) - KNOWN:
    sys.exit(f"tiny-model.py: unknown setting(s) {sorted(set(SET) - KNOWN)} (known: {sorted(KNOWN)})")
N_EMBD, N_HEAD, N_FF = int(SET.get("hidden", 64)), int(SET.get("heads", 4)), int(SET.get("ff", 128))
N_LAYER, N_CTX = int(SET.get("layers", 2)), int(SET.get("ctx", 512))
EPS, ROPE_BASE, SEED = 1e-12, 1000.0, int(SET.get("seed", 20240601))
WTYPE = SET.get("type", "f32")
if WTYPE not in ("f32", "f16", "q8_0") or N_EMBD % N_HEAD or N_EMBD % 32:
    sys.exit("tiny-model.py: type is f32, f16 or q8_0; hidden a multiple of heads and of 32")
WS = "\u2581"  # word-start marker of llama.cpp's WPM tokenizer

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS = """
the a an and are as at be by can do does for from how i in is it its my of on or our so that
this to was we were what with you your not no yes all any some one two three new old big small
how why when where who which password reset login account user email address change forgot
bank interest rate rates raise raised central money market price prices stock stocks inflation
cat cats dog dogs bird fish animal pet pets food eat eating water drink coffee tea bread
car cars road drive driving train bus travel city town house home room door window
computer data store key value vector search memory shared fast slow file files disk network
model models text texts word words token tokens embed embedding query document documents
weather rain sun snow cold hot day night week year time today tomorrow morning evening
book books read reading write writing music song play game games sport team win lose
red blue green black white color light dark open close start stop run walk talk
help please thanks hello world good bad happy sad love like need want make get set go
""".split()
SUFFIXES = ["s", "es", "ed", "ing", "er", "ly", "ion", "tion", "al", "ment", "ness", "able"]


def vocab():
    toks = list(SPECIAL)
    seen = set(toks)

    def add(t):
        if t not in seen:
            seen.add(t)
            toks.append(t)

    for c in "abcdefghijklmnopqrstuvwxyz0123456789":
        add(WS + c)  # a word starting with c
        add(c)       # c inside a word (BERT's ##c)
    for c in ".,!?;:'\"()-/":
        add(WS + c)  # punctuation is a word of its own
    for w in WORDS:
        add(WS + w)
    for s in SUFFIXES:
        add(s)
    return toks


def main():
    out = POS[0] if POS else "build/llama/tiny.gguf"
    toks = vocab()
    rng = np.random.default_rng(SEED)

    def r(*shape, s=0.1):
        return (rng.standard_normal(shape) * s).astype(np.float32)

    w = gguf.GGUFWriter(out, "nomic-bert")
    w.add_name("splinter-tiny-nomic-bert")
    w.add_context_length(N_CTX)
    w.add_embedding_length(N_EMBD)
    w.add_feed_forward_length(N_FF)
    w.add_block_count(N_LAYER)
    w.add_head_count(N_HEAD)
    w.add_layer_norm_eps(EPS)
    w.add_causal_attention(False)
    w.add_pooling_type(gguf.PoolingType.MEAN)
    w.add_rope_freq_base(ROPE_BASE)
    w.add_file_type({"f32": gguf.LlamaFileType.ALL_F32, "f16": gguf.LlamaFileType.MOSTLY_F16,
                     "q8_0": gguf.LlamaFileType.MOSTLY_Q8_0}[WTYPE])

    w.add_tokenizer_model("bert")
    w.add_token_list(toks)
    w.add_token_types([gguf.TokenType.CONTROL if t in SPECIAL else gguf.TokenType.NORMAL for t in toks])
    w.add_token_type_count(2)
    w.add_pad_token_id(0)
    w.add_unk_token_id(1)
    w.add_bos_token_id(2)
    w.add_sep_token_id(3)
    w.add_mask_token_id(4)
    w.add_add_bos_token(True)
    w.add_add_sep_token(True)
    w.add_normalizer_lowercase(True)
    w.add_normalizer_strip_accents(False)

    # numpy shapes are (out, in): ggml's {in, out}
    w.add_tensor("token_embd.weight", r(len(toks), N_EMBD, s=0.5))
    w.add_tensor("token_types.weight", r(2, N_EMBD, s=0.5))
    w.add_tensor("token_embd_norm.weight", 1 + r(N_EMBD))
    w.add_tensor("token_embd_norm.bias", r(N_EMBD))
    def mat(name, m):  # a weight matrix, in the chosen type
        if WTYPE == "f16":
            w.add_tensor(name, m.astype(np.float16))
        elif WTYPE == "q8_0":
            q = gguf.quants.quantize(m, gguf.GGMLQuantizationType.Q8_0)
            w.add_tensor(name, q, raw_shape=q.shape, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
        else:
            w.add_tensor(name, m)

    # random weights scaled by 1/sqrt(fan-in) (the tiny model's scales at
    # hidden 64), so a wide model's activations stay of the same size
    k = (64.0 / N_EMBD) ** 0.5
    for i in range(N_LAYER):
        b = f"blk.{i}."
        mat(b + "attn_qkv.weight", r(3 * N_EMBD, N_EMBD, s=0.3 * k))
        mat(b + "attn_output.weight", r(N_EMBD, N_EMBD, s=0.15 * k))
        w.add_tensor(b + "attn_output_norm.weight", 1 + r(N_EMBD))
        w.add_tensor(b + "attn_output_norm.bias", r(N_EMBD))
        mat(b + "ffn_up.weight", r(N_FF, N_EMBD, s=0.15 * k))
        mat(b + "ffn_gate.weight", r(N_FF, N_EMBD, s=0.15 * k))
        mat(b + "ffn_down.weight", r(N_EMBD, N_FF, s=0.1 * (128.0 / N_FF) ** 0.5))
        w.add_tensor(b + "layer_output_norm.weight", 1 + r(N_EMBD))
        w.add_tensor(b + "layer_output_norm.bias", r(N_EMBD))

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    print(f"{out}: {len(toks)} tokens, {os.path.getsize(out)} bytes")


if __name__ == "__main__":
    main()
