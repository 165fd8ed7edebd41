"""Fixtures for the client's tests: the real ragd binary (tests/e2e/ragdtest.py starts it),
with the admin key on so the client's credentials are exercised too."""
import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))                                  # the ragd package
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "tests", "e2e"))   # ragdtest

from ragdtest import Ragd  # noqa: E402

ADMIN = "client-admin-key-0123456789"


@pytest.fixture(scope="module")
def server():
    s = Ragd(env={"RAGD_ADMIN_KEY": ADMIN}).start()
    yield s
    s.cleanup()


@pytest.fixture
def admin_key():
    return ADMIN
