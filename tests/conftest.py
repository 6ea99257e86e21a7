"""Fixtures: a factory of real Apache instances, cleaned up after each test."""
import os

import pytest

from harness import MODULE, Apache


def pytest_configure(config):
    if not os.path.exists(MODULE):
        raise pytest.UsageError("%s is missing: run make first" % MODULE)


@pytest.fixture
def apache():
    """apache(config, **options) -> a started Apache; stopped after the test."""
    made = []

    def make(config="", start=True, files=None, **kw):
        a = Apache(config, **kw)
        made.append(a)
        for name, content in (files or {}).items():
            a.write(name, content)
        if start:
            a.start()
        return a

    yield make
    for a in made:
        a.cleanup()


@pytest.fixture(scope="module")
def module_apache():
    """Like apache, shared by the tests of one module."""
    made = []

    def make(config="", start=True, files=None, **kw):
        a = Apache(config, **kw)
        made.append(a)
        for name, content in (files or {}).items():
            a.write(name, content)
        if start:
            a.start()
        return a

    yield make
    for a in made:
        a.cleanup()
