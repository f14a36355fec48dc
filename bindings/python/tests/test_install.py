"""pip installs the package offline, and the library is found as documented."""
import os
import shutil
import subprocess
import sys

import pytest

import splinter
from conftest import HERE, REPO

PKG = os.path.dirname(HERE)
# the tree's default library, which the package finds by itself
TREE_LIB = os.path.join(REPO, "build", "libsplinter.so")
# the library under test (make test-python passes $(B)'s: build/kvonly for
# make B=build/kvonly WITH_EMBEDDINGS=0), else the tree's
LIB = splinter.library_path if os.path.isabs(splinter.library_path) else TREE_LIB


def run_py(code, env, cwd):
    return subprocess.run([sys.executable, "-c", code], env=env, cwd=cwd, capture_output=True,
                          text=True)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    import importlib.util
    if not (importlib.util.find_spec("pip") and importlib.util.find_spec("setuptools")):
        pytest.skip("pip or setuptools missing (scripts/install-deps.sh installs them)")
    base = tmp_path_factory.mktemp("inst")
    src = base / "src"
    shutil.copytree(PKG, src, ignore=shutil.ignore_patterns("tests", "__pycache__", "*.egg-info",
                                                            "build"))
    target = base / "site"
    p = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index",
                        "--no-build-isolation", "--target", str(target), str(src)],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr
    return target


def env_with(**kw):
    env = {k: v for k, v in os.environ.items() if k not in ("SPLINTER_LIB", "PYTHONPATH")}
    env.update(kw)
    return env


def test_installed_package_with_splinter_lib(installed, tmp_path):
    code = ("import splinter\n"
            "assert splinter.__file__.startswith(%r), splinter.__file__\n"
            "st = splinter.Store.create(None, backing='memfd', slots=8, vec_dim=0)\n"
            "st['k'] = b'v'; assert st['k'] == b'v'\n"
            "print(splinter.library_path, splinter.__version__)\n") % str(installed)
    for lib in (LIB, os.path.dirname(LIB)):   # a file or its folder
        p = run_py(code, env_with(PYTHONPATH=str(installed), SPLINTER_LIB=lib), str(tmp_path))
        assert p.returncode == 0, p.stderr
        assert p.stdout.split()[0] in (LIB, os.path.join(os.path.dirname(LIB), "libsplinter.so"))
        assert p.stdout.split()[1] == "0.1.0"
    assert (installed / "splinter" / "py.typed").exists()


def test_installed_package_without_a_library_says_how_to_fix(installed, tmp_path):
    code = "import splinter"
    p = run_py(code, env_with(PYTHONPATH=str(installed), LD_LIBRARY_PATH=""), str(tmp_path))
    if p.returncode == 0:
        pytest.skip("a libsplinter is installed system-wide")
    assert "SPLINTER_LIB" in p.stderr


@pytest.mark.skipif(not os.path.exists(TREE_LIB),
                    reason="no build/libsplinter.so in this tree (the library under test is "
                    f"{LIB})")
def test_the_tree_finds_build_dir(tmp_path):
    p = run_py("import splinter; print(splinter.library_path)", env_with(PYTHONPATH=PKG),
               str(tmp_path))
    assert p.returncode == 0, p.stderr
    assert os.path.samefile(p.stdout.strip(), TREE_LIB)
