#!/usr/bin/python3
"""covers.py - does every binding cover every public function and struct field of the header?

Usage: /usr/bin/python3 bindings/covers.py [--header H] [--bindings DIR] [LANG...]

The header's public functions are the names spl_* declared (followed by an
argument list) in include/splinter.h, comments and preprocessor lines left
out; its public struct fields are the fields of every `typedef struct spl_X
{ ... } spl_X;` there, named spl_X.field (options a caller sets, info and
results it reads: a field the binding neither sets nor shows is a choice to
write down, not an accident).  Each binding has a table
bindings/<lang>/COVERS, one function or field a line:

    spl_get      bound Store.__getitem__          (anything after 'bound' is a note)
    spl_read_with omitted: the reason, never empty
    spl_info.page_bytes  bound Info.page_bytes

'#' starts a comment.  A binding fails when the header has a function its
table does not list, when the table lists a function the header does not
declare, lists one twice, gives an omission no reason, or says 'bound' for a
function (or a field: its C name) its sources never name (files under
bindings/<lang>/ other than COVERS and *.md; build outputs skipped).  Every bindings/*/COVERS found is
checked.  Prints one line per binding and "covers: N passed, N failed";
exits 1 on any failure.
"""
from __future__ import annotations

import argparse
import os
import re
import sys
from typing import Dict, List, Set, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
SKIP_DIRS = {"target", "node_modules", "build", "__pycache__", ".git", "dist", ".pytest_cache"}
SOURCE_EXT = (".py", ".rs", ".c", ".h", ".cc", ".cpp", ".go", ".js", ".mjs", ".cjs", ".ts",
              ".gyp", ".toml", ".json")


def header_functions(path: str) -> Set[str]:
    with open(path) as f:
        text = f.read()
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", " ", text)
    text = re.sub(r"\\\n", " ", text)            # join continued (macro) lines
    text = "\n".join(ln for ln in text.splitlines() if not ln.lstrip().startswith("#"))
    return set(re.findall(r"\b(spl_[A-Za-z0-9_]+)\s*\(", text))


def header_fields(path: str) -> Set[str]:
    """spl_X.field for every field of every `typedef struct spl_X { ... } spl_X;`."""
    with open(path) as f:
        text = f.read()
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", " ", text)
    out: Set[str] = set()
    for m in re.finditer(r"typedef\s+struct\s+(spl_\w+)\s*\{([^{}]*)\}\s*(\w+)\s*;", text):
        if m.group(1) != m.group(3):
            continue
        for decl in m.group(2).split(";"):
            d = decl.strip()
            if not d:
                continue
            f = re.search(r"([A-Za-z_]\w*)\s*(\[[^\]]*\])?\s*$", d)
            if f:
                out.add(f"{m.group(1)}.{f.group(1)}")
    return out


def read_table(path: str) -> Tuple[Dict[str, str], List[str]]:
    """({name: 'bound' | 'omitted'}, [problems])."""
    table: Dict[str, str] = {}
    problems: List[str] = []
    with open(path) as f:
        for n, raw in enumerate(f, 1):
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            m = re.match(r"^(\S+)\s+(bound\b.*|omitted:\s*(.*))$", line)
            if not m:
                problems.append(f"line {n}: expected 'NAME bound' or 'NAME omitted: reason': {line!r}")
                continue
            name = m.group(1)
            if m.group(2).startswith("omitted:"):
                if not (m.group(3) or "").strip():
                    problems.append(f"line {n}: {name} omitted without a reason")
                status = "omitted"
            else:
                status = "bound"
            if name in table:
                problems.append(f"line {n}: {name} listed twice")
            table[name] = status
    return table, problems


def source_text(folder: str) -> str:
    parts = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS]
        for fn in files:
            if fn == "COVERS" or fn.endswith(".md") or not fn.endswith(SOURCE_EXT):
                continue
            try:
                with open(os.path.join(root, fn), errors="replace") as f:
                    parts.append(f.read())
            except OSError:
                pass
    return "\n".join(parts)


def check(lang_dir: str, funcs: Set[str]) -> List[str]:
    table, problems = read_table(os.path.join(lang_dir, "COVERS"))
    for name in sorted(funcs - set(table)):
        problems.append(f"{name}: in the header, missing from COVERS")
    for name in sorted(set(table) - funcs):
        what = "a field" if "." in name else "a function"
        problems.append(f"{name}: listed in COVERS, not {what} of the header")
    src = source_text(lang_dir)
    for name in sorted(n for n, st in table.items() if st == "bound" and n in funcs):
        c_name = name.split(".", 1)[1] if "." in name else name
        if not re.search(r"\b" + re.escape(c_name) + r"\b", src):
            problems.append(f"{name}: marked bound, but no source file of the binding names {c_name}")
    return problems


def main(argv: List[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--header", default=os.path.join(HERE, "..", "include", "splinter.h"))
    ap.add_argument("--bindings", default=HERE, help="folder holding <lang>/COVERS")
    ap.add_argument("langs", nargs="*", help="only these bindings")
    a = ap.parse_args(argv)
    funcs = header_functions(a.header)
    if not funcs:
        print(f"covers: no spl_* function found in {a.header}")
        return 1
    fields = header_fields(a.header)
    if not fields:
        print(f"covers: no spl_* struct found in {a.header}")
        return 1
    langs = a.langs or sorted(d for d in os.listdir(a.bindings)
                              if os.path.isfile(os.path.join(a.bindings, d, "COVERS")))
    if not langs:
        print("covers: no bindings/<lang>/COVERS found")
        return 1
    passed = failed = 0
    for lang in langs:
        d = os.path.join(a.bindings, lang)
        if not os.path.isfile(os.path.join(d, "COVERS")):
            print(f"FAIL {lang}: no COVERS table")
            failed += 1
            continue
        problems = check(d, funcs | fields)
        table, _ = read_table(os.path.join(d, "COVERS"))
        nb = sum(1 for n, s in table.items() if s == "bound" and "." not in n)
        nf = sum(1 for n, s in table.items() if s == "bound" and "." in n)
        if problems:
            failed += 1
            print(f"FAIL {lang}: {len(problems)} problem(s)")
            for p in problems:
                print(f"    | {p}")
        else:
            passed += 1
            print(f"ok   {lang}: {len(funcs)} functions, {nb} bound, {len(funcs) - nb} omitted; "
                  f"{len(fields)} struct fields, {nf} bound, {len(fields) - nf} omitted")
    print(f"covers: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
