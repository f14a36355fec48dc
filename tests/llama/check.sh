#!/usr/bin/env bash
# tests/llama/check.sh BUILD_DIR - llama.cpp's embeddings of a few texts
# with the tiny model (build/llama/tiny.gguf) against an independent numpy
# forward pass of the same model (tests/llama/reference.py): every element
# within 1e-4.
set -euo pipefail
B=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
model=build/llama/tiny.gguf
gguf_py=build/llama/src/gguf-py
texts=$(mktemp); a=$(mktemp); r=$(mktemp)
trap 'rm -f "$texts" "$a" "$r"' EXIT
cat > "$texts" <<'T'
How do I reset my password?
The central bank raised interest rates
the cat and the dog
Shared memory store: fast vector search, with key/value pairs!
zzz unknownword qqq 42 café
search_query: what is the weather like today
T
"$B/tests/test_llama" "$model" < "$texts" > "$a"
/usr/bin/python3 "$here/reference.py" "$model" "$gguf_py" < "$texts" > "$r"
/usr/bin/python3 - "$a" "$r" <<'PY'
import sys
a = [list(map(float, l.split())) for l in open(sys.argv[1])]
r = [list(map(float, l.split())) for l in open(sys.argv[2])]
assert len(a) == len(r) == 6, (len(a), len(r))
worst = max(abs(x - y) for u, v in zip(a, r) for x, y in zip(u, v))
assert all(len(u) == 64 for u in a + r)
print(f"6 texts, 64 dims: max |llama.cpp - numpy| = {worst:.2e}")
sys.exit(0 if worst < 1e-4 else 1)
PY
