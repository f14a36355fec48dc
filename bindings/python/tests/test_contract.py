"""The binding against include/splinter.h: error table, struct layouts."""
import ctypes
import os
import pickle
import re
import shutil
import subprocess

import pytest

from conftest import REPO
from splinter import _lib, errors

HEADER = os.path.join(REPO, "include", "splinter.h")


def header_text():
    with open(HEADER) as f:
        return f.read()


def test_error_table_matches_header():
    codes = dict((n, int(v)) for n, v in
                 re.findall(r"X\((SPL_E\w+),\s*(-?\d+),", header_text()))
    assert len(codes) > 30
    ours = {spl: val for spl, val, _, _ in errors._TABLE}
    assert ours == codes
    for spl, val in codes.items():
        e = errors.error_for(val, "op")
        assert e.name == spl and e.code == val and isinstance(e, errors.SplinterError)
        assert errors.error_class(spl) is type(e)
        assert pickle.loads(pickle.dumps(e)).name == spl


def test_os_errors_keep_their_errno_name():
    e = errors.error_for(-1, "open")
    assert type(e) is errors.SplinterError and e.name == "EPERM"


def _header_structs():
    """{struct: [field, ...]} for every `typedef struct X {...} X;`."""
    text = re.sub(r"/\*.*?\*/", "", header_text(), flags=re.S)
    out = {}
    for name, body, tail in re.findall(r"typedef struct (\w+) \{(.*?)\} (\w+);", text, re.S):
        fields = []
        for decl in body.split(";"):
            decl = decl.strip()
            if decl:
                fields.append(re.findall(r"(\w+)\s*(?:\[[^\]]*\])?$", decl)[0])
        out[name] = fields
    return out


@pytest.fixture(scope="module")
def c_layout(tmp_path_factory):
    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc:
        pytest.skip("no C compiler")
    exe = str(tmp_path_factory.mktemp("layout") / "layout")
    subprocess.run([cc, "-std=c11", "-I", os.path.join(REPO, "include"), "-o", exe,
                    os.path.join(REPO, "bindings", "layout.c")], check=True)
    out = subprocess.run([exe], check=True, capture_output=True, text=True).stdout
    sizes, fields = {}, {}
    for line in out.splitlines():
        parts = line.split()
        if "." in parts[0]:
            st, f = parts[0].split(".")
            fields.setdefault(st, {})[f] = (int(parts[1]), int(parts[2]))
        else:
            sizes[parts[0]] = int(parts[1])
    return sizes, fields


def test_layout_probe_lists_every_header_field(c_layout):
    _, fields = c_layout
    structs = _header_structs()
    assert set(structs) == set(_lib.STRUCTS)  # a new public struct needs a mirror
    for st, names in structs.items():
        assert list(fields.get(st, {})) == names, st


def test_ctypes_structs_match_the_c_layout(c_layout):
    sizes, fields = c_layout
    assert set(_lib.STRUCTS) == set(sizes)
    for st, cls in _lib.STRUCTS.items():
        assert ctypes.sizeof(cls) == sizes[st], st
        assert [f[0] for f in cls._fields_] == list(fields[st]), st
        for f, (off, size) in fields[st].items():
            d = getattr(cls, f)
            assert (d.offset, d.size) == (off, size), f"{st}.{f}"


def test_ann_fields_are_mirrored(c_layout):
    # the trailing fields added with ANN providers: a query's ef and a result's flags
    _, fields = c_layout
    assert list(fields["spl_vec_query"])[-1] == "ef"
    assert list(fields["spl_vec_result"])[-1] == "flags"
    assert _lib.spl_vec_query.ef.offset == fields["spl_vec_query"]["ef"][0]
    assert _lib.spl_vec_result.flags.offset == fields["spl_vec_result"]["flags"][0]


def test_flag_constants_match_header():
    import splinter
    text = header_text()

    def bit(name):
        return 1 << int(re.search(r"\b%s = 1u << (\d+)" % name, text).group(1))

    assert splinter.F_VALUES == bit("SPL_F_VALUES")
    assert splinter.F_LABELS_ANY == bit("SPL_F_LABELS_ANY")
    assert splinter.VQ_SKIP_SELF == bit("SPL_VQ_SKIP_SELF")
    assert splinter.VQ_ANN == bit("SPL_VQ_ANN")
    assert splinter.VR_ANN == bit("SPL_VR_ANN")
    assert splinter.O_RDONLY == bit("SPL_O_RDONLY")
    assert splinter.O_GROUP == bit("SPL_O_GROUP")
    assert splinter.O_NOWAIT == bit("SPL_O_NOWAIT")


def test_versions_follow_the_library():
    import splinter
    text = header_text()
    hv = ".".join(re.search(r"#define SPL_VERSION_%s (\d+)" % p, text).group(1)
                  for p in ("MAJOR", "MINOR", "PATCH"))
    with open(os.path.join(REPO, "Makefile")) as f:
        mk = re.search(r"^VERSION\s*:=\s*(\S+)", f.read(), re.M).group(1)
    with open(os.path.join(REPO, "bindings", "python", "pyproject.toml")) as f:
        py = re.search(r'^version = "([^"]+)"', f.read(), re.M).group(1)
    with open(os.path.join(REPO, "bindings", "rust", "Cargo.toml")) as f:
        rs = re.search(r'^version = "([^"]+)"', f.read(), re.M).group(1)
    assert hv == mk == py == rs == splinter.__version__ == splinter.version()
