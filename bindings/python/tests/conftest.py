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


@pytest.fixture
def store():
    """An anonymous (memfd) store with small vectors."""
    with splinter.Store.create(None, backing="memfd", slots=256, key_max=64, val_max=1024,
                               vec_dim=4) as st:
        yield st


@pytest.fixture
def name():
    """A unique SHM store name, destroyed after the test."""
    n = f"pytest-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    yield n
    splinter.destroy(n, missing_ok=True)
