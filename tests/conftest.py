"""Fixtures: a factory of real Apache instances, cleaned up after each test."""
import os

import pytest

from harness import MODULE, Apache


def pytest_configure(config):
    if not os.path.exists(MODULE):
        raise pytest.UsageError("%s is missing: run make first" % MODULE)


def apache_factory():
    """(make, made): make(config, start=True, files=None, **options) -> an Apache, started
    unless start=False, with files written into its server root; made lists them."""
    made = []

    def make(config="", start=True, files=None, **kw):
        a = Apache(config, **kw)
        made.append(a)
        for name, content in (files or {}).items():
            a.write(name, content)
        if start:
            a.start()
        return a

    return make, made


@pytest.fixture
def apache():
    """apache(config, **options) -> a started Apache; stopped after the test."""
    make, made = apache_factory()
    yield make
    for a in made:
        a.cleanup()


@pytest.fixture(scope="module")
def module_apache():
    """Like apache, shared by the tests of one module."""
    make, made = apache_factory()
    yield make
    for a in made:
        a.cleanup()
