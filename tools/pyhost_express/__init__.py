"""pyhost-express: serve a Python WSGI application through Apache and mod_pyhost with one
command, without writing any Apache configuration. Its options are mod_wsgi-express 6's, so
that replacing the word mod_wsgi-express in a launch line is enough.

    cli.py         the commands and running Apache
    options.py     the options
    discovery.py   finding Apache, the module, the account and the entry point
    server.py      deciding from the options, and writing the server root
    apacheconf.py  the Apache configuration
    handler.py     the WSGI script Apache loads in front of the application, when one is needed
    management/    the Django command runpyhost (add 'pyhost_express' to INSTALLED_APPS)

Standard library only.
"""
import re

PROG = "pyhost-express"


class Failure(Exception):
    """A problem the user can fix: reported as one plain line, exit status 1."""


def fail(message):
    raise Failure(message)


def q(value):
    """An Apache configuration argument in double quotes."""
    return '"%s"' % str(value).replace("\\", "\\\\").replace('"', '\\"')


def ov(value):
    """A name=value option's value: bare when it can be, else quoted as mod_wsgi allows."""
    value = str(value)
    return value if re.match(r"^[^\s\"'\\]+$", value) else q(value)
