"""tests/interop/worker.py - the Python side of the cross-language test
(tests/interop/run.py): worker.py STORE ROLE [ARGS]."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bindings", "python"))
import splinter  # noqa: E402

LANGS = ["c", "py", "node", "rust", "go"]
NKEYS, HAM_MIN, HAM_STEP = 4, 65536, 16384
# The vectors Python writes (run.py computes the same, and the scores).
VECS = {
    "py.vec0": [0.1 * (j + 1) + 0.01 * j * j for j in range(8)],
    "py.vec1": [((j * 37) % 11) / 7.0 - 0.5 for j in range(8)],
    "py.vec2": [(-1.0) ** j * (j + 1) for j in range(8)],
    "py.vec3": [1.0] * 8,
}


def expect(lang, i):
    return b"\0" + lang.encode() + b"\0" + bytes(range(256)) + bytes([255 - i]) * (i + 1)


def main():
    path, role = sys.argv[1], sys.argv[2]
    st = splinter.Store.open(path)
    if role == "kv":
        for i in range(NKEYS):
            st.set(f"py.k{i}", expect("py", i))
        for _ in range(int(sys.argv[3])):
            st.inc("ctr")
        for lang in LANGS:
            for i in range(NKEYS):
                key = f"{lang}.k{i}"
                for _ in range(3000):
                    got = st.get(key)
                    if got is not None:
                        break
                    time.sleep(0.01)
                if got != expect(lang, i):
                    print(f"FAIL {key}: {got!r:.80} differs")
                    return 1
        print(f"ok py read {len(LANGS) * NKEYS} keys")
    elif role == "hammer":
        it = 0
        while True:
            n = HAM_MIN + (it % 8) * HAM_STEP
            st.set("py.h", bytes([it & 0xFF]) * n)
            st.inc("py.hn")
            if it == 0:
                print("ready", flush=True)
            it += 1
    elif role == "vecwrite":
        for k, v in VECS.items():
            st.vec_set(k, v)
        print(f"ok py wrote {len(VECS)} vectors")
    else:
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
