import os
import sys
import uuid

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
# Import the package from this tree (not an installed copy) unless told otherwise.
if not os.environ.get("SPLINTER_PY_INSTALLED"):
    sys.path.insert(0, os.path.dirname(HERE))

import splinter  # noqa: E402

REPO = os.path.normpath(os.path.join(HERE, "..", "..", ".."))
# the build folder of the library under test (make test-python passes its
# path: $(B), build/ unless B= says otherwise), else the tree's build/; its
# splinterctl and fragments/ are the ones built with that library
BUILD = (os.path.dirname(splinter.library_path) if os.path.isabs(splinter.library_path)
         else os.path.join(REPO, "build"))

# The library's own answer: a WITH_EMBEDDINGS=0 build says "none" (it
# refuses a store with vectors and every vector call is SPL_ENOTSUP).
HAS_VECTORS = splinter.vec_simd() != "none"
NO_VECTORS = "this build has no vectors (WITH_EMBEDDINGS=0)"
# for a test (or, as pytestmark, a module) that stores or searches vectors
needs_vectors = pytest.mark.skipif(not HAS_VECTORS, reason=NO_VECTORS)


@pytest.fixture
def store():
    """An anonymous (memfd) store with small vectors (vec_dim 4), or with
    none in a build without them: the key-value tests run in both."""
    with splinter.Store.create(None, backing="memfd", slots=256, key_max=64, val_max=1024,
                               vec_dim=4 if HAS_VECTORS else 0) as st:
        yield st


@pytest.fixture
def name():
    """A unique SHM store name, destroyed after the test."""
    n = f"pytest-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    yield n
    splinter.destroy(n, missing_ok=True)
