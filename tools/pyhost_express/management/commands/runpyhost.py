"""manage.py runpyhost: serve a Django project through Apache and mod_pyhost, as mod_wsgi's
runmodwsgi does. Add 'pyhost_express' to INSTALLED_APPS; every pyhost-express start-server
option is accepted.

The project's WSGI_APPLICATION is the entry point (a module), its directory the working
directory; when django.contrib.staticfiles is installed and STATIC_ROOT set, collectstatic
runs first and STATIC_ROOT is served by Apache at STATIC_URL, as MEDIA_ROOT is at MEDIA_URL.
"""
import os
import sys

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from pyhost_express import Failure, cli
from pyhost_express.options import add_server_options


def _url_path(url):
    """A settings URL as a path Apache can alias, or None when it is on another host."""
    if not url or "://" in url or url.startswith("//"):
        return None
    return "/" + url.strip("/")


class Command(BaseCommand):
    help = "Serve this project with Apache and mod_pyhost (pyhost-express start-server)."

    def add_arguments(self, parser):
        add_server_options(parser, with_application=False)
        parser.add_argument("--skip-collectstatic", action="store_true",
                            help="do not run collectstatic before starting")

    def handle(self, *args, **options):
        wsgi = getattr(settings, "WSGI_APPLICATION", None)
        if not wsgi or "." not in wsgi:
            raise CommandError("WSGI_APPLICATION is not set in the settings; runpyhost serves "
                               "the application it names (such as mysite.wsgi.application)")
        module, callable_name = wsgi.rsplit(".", 1)
        opts = _Options(options)
        opts.application_type = "module"
        opts.application = opts.entry_point = module
        opts.callable_object = callable_name
        base = getattr(settings, "BASE_DIR", None)
        if opts.working_directory is None:
            opts.working_directory = str(base) if base else os.getcwd()
        if opts.working_directory not in opts.python_path:
            opts.python_path.append(opts.working_directory)
        # Apache, and so the daemon processes, inherit this process's environment.
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", settings.SETTINGS_MODULE)
        static_root = getattr(settings, "STATIC_ROOT", None)
        static_url = _url_path(getattr(settings, "STATIC_URL", None))
        if static_root and static_url and "django.contrib.staticfiles" in \
                settings.INSTALLED_APPS:
            if not options["skip_collectstatic"]:
                call_command("collectstatic", interactive=False, verbosity=options["verbosity"])
            if os.path.isdir(str(static_root)):
                opts.url_aliases = list(opts.url_aliases) + [[static_url, str(static_root)]]
        media_root = getattr(settings, "MEDIA_ROOT", None)
        media_url = _url_path(getattr(settings, "MEDIA_URL", None))
        if media_root and media_url and os.path.isdir(str(media_root)):
            opts.url_aliases = list(opts.url_aliases) + [[media_url, str(media_root)]]
        try:
            status = cli.cmd_server(opts, opts.setup_only)
        except Failure as e:
            raise CommandError(str(e))
        sys.stdout.flush()
        if status:
            raise CommandError("Apache exited with status %s" % status)


class _Options:
    """Django's options dict as the attribute namespace pyhost-express reads."""

    def __init__(self, options):
        self.__dict__.update(options)
