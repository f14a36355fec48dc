"""bindings/covers.py must pass on the tree and fail on every kind of drift."""
import os
import shutil
import subprocess
import sys

import pytest

from conftest import REPO

COVERS = os.path.join(REPO, "bindings", "covers.py")
HEADER = os.path.join(REPO, "include", "splinter.h")


def run(*args):
    p = subprocess.run([sys.executable, COVERS, *args], capture_output=True, text=True)
    return p.returncode, p.stdout


@pytest.fixture
def tree(tmp_path):
    """A copy of the header and of the python binding's table and _lib.py."""
    shutil.copy(HEADER, tmp_path / "splinter.h")
    b = tmp_path / "bindings" / "python"
    b.mkdir(parents=True)
    src = os.path.join(REPO, "bindings", "python")
    shutil.copy(os.path.join(src, "COVERS"), b / "COVERS")
    shutil.copy(os.path.join(src, "splinter", "_lib.py"), b / "_lib.py")
    return tmp_path


def args(t):
    return ["--header", str(t / "splinter.h"), "--bindings", str(t / "bindings")]


def test_passes_on_the_tree():
    rc, out = run()
    assert rc == 0, out
    assert "ok   python" in out and out.rstrip().endswith("0 failed")


def test_passes_on_the_copy(tree):
    rc, out = run(*args(tree))
    assert rc == 0, out


def test_fails_on_a_new_header_function(tree):
    h = tree / "splinter.h"
    h.write_text(h.read_text().replace(
        "#ifdef __cplusplus\n}", "int spl_brand_new(spl_store *s, int x);\n#ifdef __cplusplus\n}"))
    rc, out = run(*args(tree))
    assert rc == 1
    assert "spl_brand_new: in the header, missing from COVERS" in out
    assert "covers: 0 passed, 1 failed" in out


def test_fails_on_a_listed_function_the_header_lacks(tree):
    c = tree / "bindings" / "python" / "COVERS"
    c.write_text(c.read_text() + "spl_gone bound somewhere\n")
    rc, out = run(*args(tree))
    assert rc == 1 and "spl_gone: listed in COVERS, not a function of the header" in out


def test_fails_on_a_missing_line_a_blank_reason_and_a_duplicate(tree):
    c = tree / "bindings" / "python" / "COVERS"
    lines = [ln for ln in c.read_text().splitlines() if not ln.startswith("spl_append ")]
    lines = [("spl_read_with omitted:" if ln.startswith("spl_read_with") else ln) for ln in lines]
    lines.append("spl_get bound again")
    c.write_text("\n".join(lines) + "\n")
    rc, out = run(*args(tree))
    assert rc == 1
    assert "spl_append: in the header, missing from COVERS" in out
    assert "spl_read_with omitted without a reason" in out
    assert "spl_get listed twice" in out


def test_fails_when_bound_but_never_named_in_the_sources(tree):
    lib = tree / "bindings" / "python" / "_lib.py"
    lib.write_text(lib.read_text().replace('"spl_touch"', '"spl_tuoch"'))
    rc, out = run(*args(tree))
    assert rc == 1 and "spl_touch: marked bound, but no source file" in out


def test_every_table_is_checked(tree):
    other = tree / "bindings" / "zz"
    other.mkdir()
    (other / "COVERS").write_text("spl_get bound\n")
    (other / "zz.c").write_text("spl_get")
    rc, out = run(*args(tree))
    assert rc == 1 and "ok   python" in out and "FAIL zz" in out
    assert "covers: 1 passed, 1 failed" in out


def test_fails_on_a_new_struct_field(tree):
    h = tree / "splinter.h"
    text = h.read_text()
    assert "    uint64_t resident_bytes;" in text
    h.write_text(text.replace("    uint64_t resident_bytes;",
                              "    uint64_t brand_new_field;\n    uint64_t resident_bytes;", 1))
    rc, out = run(*args(tree))
    assert rc == 1
    assert "spl_info.brand_new_field: in the header, missing from COVERS" in out


def test_fails_on_a_listed_field_the_header_lacks(tree):
    c = tree / "bindings" / "python" / "COVERS"
    c.write_text(c.read_text() + "spl_info.gone bound somewhere\n")
    rc, out = run(*args(tree))
    assert rc == 1 and "spl_info.gone: listed in COVERS, not a field of the header" in out
