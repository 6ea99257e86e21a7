"""The WSGI* directives: accepted values and contexts, and strict rejection of wrong ones.

mod_pyhost takes mod_wsgi 6's directives with the same names, arguments, contexts and
defaults, but is stricter on values: a wrong value must fail `apache2 -t`, and the message
must name the directive and the value.  Most tests only run `apache2 -t`; the .htaccess ones
start one shared Apache, since Apache reads .htaccess files only when serving a request.
"""
import re

import pytest


HELLO = """
def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'ok']
"""

FILES = {"app.wsgi": HELLO, "handler.wsgi": HELLO, "import.wsgi": "x = 1\n",
         "scripts/one.wsgi": HELLO, "lib/README": "a directory for WSGIPythonPath\n"}


def configtest(apache, config, **kw):
    """Runs apache2 -t; the output has the server root replaced by @ROOT@ and the line number
    of the error dropped, so that a needle cannot be found in them by accident."""
    a = apache(config, start=False, files=FILES, **kw)
    rc, out = a.configtest()
    out = re.sub(r"on line \d+ of", "on line N of", out.replace(a.root, "@ROOT@"))
    return rc, out


def assert_ok(apache, config, **kw):
    rc, out = configtest(apache, config, **kw)
    assert rc == 0, "apache2 -t refused a valid configuration:\n%s\n---\n%s" % (config, out)
    assert "Syntax OK" in out


def assert_fails(apache, config, *needles, **kw):
    """apache2 -t fails and its output names every needle (directive, value, option)."""
    rc, out = configtest(apache, config, **kw)
    assert rc != 0, "apache2 -t accepted a wrong configuration:\n%s\n---\n%s" % (config, out)
    assert rc > 0, "apache2 -t was killed by signal %d on:\n%s\n---\n%s" % (-rc, config, out)
    for n in needles:
        assert n in out, "the error does not name %r:\n%s" % (n, out)
    return out


# ---- contexts ---------------------------------------------------------------------------------

def in_server(line):
    return line


def in_vhost(line):
    return "<VirtualHost 127.0.0.1:*>\n    ServerName vh.example\n    %s\n</VirtualHost>" % line


def in_directory(line):
    return "<Directory @ROOT@/htdocs>\n    %s\n</Directory>" % line


def in_location(line):
    return "<Location /loc>\n    %s\n</Location>" % line


CONTEXTS = {"server": in_server, "vhost": in_vhost, "directory": in_directory,
            "location": in_location}

S = ("server",)
SV = ("server", "vhost")
SVD = ("server", "vhost", "directory", "location")

# directive -> (valid argument strings, contexts where it is allowed)
DIRECTIVES = {
    "WSGIScriptAlias": ([
        "/app @ROOT@/app.wsgi",
        "/ @ROOT@/app.wsgi",
        "/dir/ @ROOT@/scripts/",
        "/g @ROOT@/app.wsgi process-group=%{GLOBAL} application-group=%{GLOBAL}",
        "/a @ROOT@/app.wsgi application-group=mygroup callable-object=app",
        "/p @ROOT@/app.wsgi pass-authorization=On",
        "/q @ROOT@/app.wsgi pass-authorization=off application-group=%{SERVER}",
        '"/quoted path" "@ROOT@/app.wsgi"',
    ], SV),
    "WSGIScriptAliasMatch": (
        ["^/m/(.*)$ @ROOT@/app.wsgi",
         "^/s/([a-z]+) @ROOT@/scripts/$1.wsgi application-group=%{GLOBAL}",
         "^/t @ROOT@/app.wsgi process-group=%{GLOBAL} application-group=x pass-authorization=On"],
        SV),
    "WSGIApplicationGroup": (["mygroup", "%{GLOBAL}", "%{SERVER}", "%{RESOURCE}", "%{HOST}",
                              "%{ENV:APP_GROUP}", '"group with spaces"'], SVD),
    "WSGICallableObject": (["application", "app", "%{ENV:CALLABLE}"], SVD),
    "WSGIImportScript": (["@ROOT@/import.wsgi process-group=%{GLOBAL} application-group=%{GLOBAL}",
                          "@ROOT@/import.wsgi application-group=grp process-group=%{GLOBAL}"],
                         SV),
    "WSGIPythonHome": (["/usr"], S),
    "WSGIPythonPath": (["@ROOT@/lib", "@ROOT@/lib:@ROOT@/scripts"], S),
    "WSGIPythonOptimize": (["0", "1", "2"], S),
    "WSGIPythonHashSeed": (["random", "0", "12345", "4294967295"], S),
    "WSGIPythonWarnings": (["ignore", "ignore::DeprecationWarning",
                            "error::UserWarning:mymodule", "default"], S),
    "WSGIDontWriteBytecode": (["On", "Off", "on", "OFF"], S),
    "WSGIPassAuthorization": (["On", "Off", "on"], SVD),
    "WSGIScriptReloading": (["On", "Off", "off"], SVD),
    "WSGIChunkedRequest": (["On", "Off"], SVD),
    "WSGIMapHEADToGET": (["On", "Off", "Auto", "auto", "ON"], SVD),
    "WSGIRestrictEmbedded": (["On", "Off"], S),
    "WSGIRestrictStdin": (["On", "Off"], S),
    "WSGIRestrictStdout": (["On", "Off"], S),
    "WSGIRestrictSignal": (["On", "Off"], S),
    "WSGIHandlerScript": (["my-handler @ROOT@/handler.wsgi",
                           "other-handler @ROOT@/handler.wsgi process-group=%{GLOBAL} "
                           "application-group=%{GLOBAL} pass-authorization=On"], SVD),
    "WSGIProcessGroup": (["%{GLOBAL}", "%{ENV:PROCESS_GROUP}"], SVD),
    "WSGISocketPrefix": (["@ROOT@/wsgi", "run/wsgi"], S),
}

ON_OFF = ["WSGIDontWriteBytecode", "WSGIPassAuthorization", "WSGIScriptReloading",
          "WSGIChunkedRequest", "WSGIRestrictEmbedded", "WSGIRestrictStdin",
          "WSGIRestrictStdout", "WSGIRestrictSignal"]

SERVER_ONLY = ["WSGIPythonHome /usr", "WSGIPythonPath @ROOT@/lib", "WSGIPythonOptimize 1",
               "WSGIPythonHashSeed 0", "WSGIPythonWarnings ignore", "WSGIDontWriteBytecode On",
               "WSGIRestrictEmbedded On", "WSGIRestrictStdin On", "WSGIRestrictStdout On",
               "WSGIRestrictSignal Off", "WSGISocketPrefix @ROOT@/wsgi",
               "WSGIDestroyInterpreter Off", "WSGISocketRotation Off"]


def allowed_cases():
    for name, (values, contexts) in DIRECTIVES.items():
        for ctx in contexts:
            yield pytest.param(name, ctx, values, id="%s-%s" % (name, ctx))


def refused_context_cases():
    for name, (values, contexts) in DIRECTIVES.items():
        for ctx in CONTEXTS:
            if ctx not in contexts:
                yield pytest.param(name, ctx, values[0], id="%s-%s" % (name, ctx))


@pytest.mark.parametrize("name,ctx,values", list(allowed_cases()))
def test_directive_accepted_in_allowed_context(apache, name, ctx, values):
    lines = [CONTEXTS[ctx]("%s %s" % (name, v)) for v in values]
    assert_ok(apache, "\n".join(lines))


@pytest.mark.parametrize("name,ctx,value", list(refused_context_cases()))
def test_directive_refused_outside_its_contexts(apache, name, ctx, value):
    assert_fails(apache, CONTEXTS[ctx]("%s %s" % (name, value)), name)


@pytest.mark.parametrize("line", SERVER_ONLY)
def test_server_only_directive_refused_in_virtualhost(apache, line):
    out = assert_fails(apache, in_vhost(line), line.split()[0])
    assert "VirtualHost" in out


@pytest.mark.parametrize("line", [
    "WSGIScriptAlias /x @ROOT@/app.wsgi",
    "WSGIScriptAliasMatch ^/x @ROOT@/app.wsgi",
    "WSGIDaemonProcess indir threads=1",
    "WSGIImportScript @ROOT@/import.wsgi process-group=%{GLOBAL} application-group=%{GLOBAL}",
])
@pytest.mark.parametrize("ctx", ["directory", "location"])
def test_mapping_directive_refused_in_directory(apache, line, ctx):
    out = assert_fails(apache, CONTEXTS[ctx](line), line.split()[0])
    assert "not allowed" in out


def test_flag_directives_are_case_insensitive(apache):
    assert_ok(apache, "\n".join("%s %s" % (d, v) for d, v in zip(ON_OFF, ["on", "OFF", "oN",
                                                                         "ofF", "ON", "off",
                                                                         "On", "Off"])))


# ---- wrong values -----------------------------------------------------------------------------

@pytest.mark.parametrize("directive,value", [
    ("WSGIPythonOptimize", "3"),
    ("WSGIPythonOptimize", "-1"),
    ("WSGIPythonOptimize", "1x"),
    ("WSGIPythonOptimize", "high"),
    ("WSGIPythonHashSeed", "abc"),
    ("WSGIPythonHashSeed", "4294967296"),
    ("WSGIPythonHashSeed", "-1"),
    ("WSGIPythonHashSeed", "12abc"),
    ("WSGIMapHEADToGET", "sometimes"),
    ("WSGIMapHEADToGET", "Yes"),
    ("WSGIApplicationGroup", "%{BOGUS}"),
    ("WSGIApplicationGroup", "%{ENV:}"),
    ("WSGIProcessGroup", "%{NOPE}"),
])
def test_wrong_value_names_directive_and_value(apache, directive, value):
    assert_fails(apache, "%s %s" % (directive, value), directive, value)


@pytest.mark.parametrize("directive", ON_OFF)
def test_flag_with_wrong_value_names_directive_and_value(apache, directive):
    assert_fails(apache, "%s maybe" % directive, directive, "maybe")


def test_map_head_to_get_sometimes_refused_in_directory(apache):
    assert_fails(apache, in_directory("WSGIMapHEADToGET sometimes"), "WSGIMapHEADToGET",
                 "sometimes")


@pytest.mark.parametrize("options,needle", [
    ("bogus-option=1", "bogus-option"),
    ("process-group=", "process-group="),
    ("application-group=", "application-group="),
    ("callable-object=", "callable-object="),
    ("pass-authorization=maybe", "maybe"),
    ("process-group", "process-group"),
    ("Process-Group=%{GLOBAL}", "Process-Group"),
    ("application-group=%{BOGUS}", "%{BOGUS}"),
])
def test_script_alias_wrong_option(apache, options, needle):
    assert_fails(apache, "WSGIScriptAlias /x @ROOT@/app.wsgi %s" % options,
                 "WSGIScriptAlias", needle)


def test_script_alias_needs_two_arguments(apache):
    assert_fails(apache, "WSGIScriptAlias /x", "WSGIScriptAlias")


def test_script_alias_match_bad_regex(apache):
    assert_fails(apache, "WSGIScriptAliasMatch ^/(x @ROOT@/app.wsgi", "WSGIScriptAliasMatch",
                 "^/(x")


def test_script_alias_match_wrong_option(apache):
    assert_fails(apache, "WSGIScriptAliasMatch ^/x @ROOT@/app.wsgi frobnicate=1",
                 "WSGIScriptAliasMatch", "frobnicate")


def test_script_alias_naming_undefined_daemon_group_for_preload(apache):
    # Both groups given: the script is preloaded, so the daemon group must already exist.
    assert_fails(apache, "WSGIScriptAlias /x @ROOT@/app.wsgi process-group=nosuchgroup "
                          "application-group=%{GLOBAL}", "WSGIScriptAlias", "nosuchgroup")


def test_script_alias_preload_into_defined_daemon_group(apache):
    assert_ok(apache, """
        WSGIDaemonProcess pre threads=1
        WSGIScriptAlias /x @ROOT@/app.wsgi process-group=pre application-group=%{GLOBAL}
    """)


def test_import_script_without_application_group(apache):
    assert_fails(apache, "WSGIImportScript @ROOT@/import.wsgi process-group=%{GLOBAL}",
                 "WSGIImportScript", "application-group")


def test_import_script_without_process_group(apache):
    assert_fails(apache, "WSGIImportScript @ROOT@/import.wsgi application-group=%{GLOBAL}",
                 "WSGIImportScript", "process-group")


def test_import_script_undefined_daemon_group(apache):
    assert_fails(apache, "WSGIImportScript @ROOT@/import.wsgi process-group=ghost "
                          "application-group=%{GLOBAL}", "WSGIImportScript", "ghost")


def test_import_script_daemon_group_defined_later(apache):
    # mod_wsgi requires the group to be defined EARLIER in the configuration.
    assert_fails(apache, """
        WSGIImportScript @ROOT@/import.wsgi process-group=late application-group=%{GLOBAL}
        WSGIDaemonProcess late threads=1
    """, "WSGIImportScript", "late")


def test_import_script_into_defined_daemon_group(apache):
    assert_ok(apache, """
        WSGIDaemonProcess early threads=1
        WSGIImportScript @ROOT@/import.wsgi process-group=early application-group=%{GLOBAL}
    """)


def test_import_script_unknown_option(apache):
    assert_fails(apache, "WSGIImportScript @ROOT@/import.wsgi process-group=%{GLOBAL} "
                          "application-group=%{GLOBAL} colour=blue", "WSGIImportScript",
                 "colour")


def test_import_script_without_path(apache):
    assert_fails(apache, "WSGIImportScript", "WSGIImportScript")


def test_handler_script_wrong_option(apache):
    assert_fails(apache, "WSGIHandlerScript h @ROOT@/handler.wsgi callable-objekt=x",
                 "WSGIHandlerScript", "callable-objekt")


def test_handler_script_wrong_pass_authorization(apache):
    assert_fails(apache, "WSGIHandlerScript h @ROOT@/handler.wsgi pass-authorization=perhaps",
                 "WSGIHandlerScript", "perhaps")


def test_handler_script_needs_name_and_path(apache):
    assert_fails(apache, "WSGIHandlerScript only-a-name", "WSGIHandlerScript")


def test_unknown_wsgi_directive_refused(apache):
    # WSGILazyInitialization was removed in mod_wsgi 6.
    assert_fails(apache, "WSGILazyInitialization On", "WSGILazyInitialization")


# ---- WSGIDaemonProcess ------------------------------------------------------------------------

def test_daemon_process_valid_options(apache):
    assert_ok(apache, """
        WSGIDaemonProcess full processes=2 threads=5 display-name=%{GROUP} \\
            user=www-data group=www-data umask=0022 home=/tmp lang=C.UTF-8 locale=C.UTF-8 \\
            python-path=@ROOT@/lib python-eggs=/tmp queue-timeout=45 socket-timeout=60 \\
            connect-timeout=15 request-timeout=60 inactivity-timeout=0 startup-timeout=15 \\
            deadlock-timeout=60 graceful-timeout=15 eviction-timeout=0 restart-interval=0 \\
            shutdown-timeout=5 maximum-requests=0 listen-backlog=100 \\
            header-buffer-size=32768 response-buffer-size=65536 send-buffer-size=0 \\
            receive-buffer-size=1024 cpu-time-limit=0 cpu-priority=0 stack-size=524288 \\
            memory-limit=100M virtual-memory-limit=0 server-metrics=Off
        WSGIDaemonProcess named display-name=my-app threads=0
        WSGIDaemonProcess small threads=1 memory-limit=104857600 header-buffer-size=0
    """)


@pytest.mark.parametrize("option,value", [
    ("threads", "-1"),
    ("threads", "abc"),
    ("threads", "65534"),
    ("processes", "0"),
    ("processes", "two"),
    ("header-buffer-size", "100"),
    ("response-buffer-size", "1000"),
    ("send-buffer-size", "100"),
    ("user", "nosuchuser"),
    ("user", "root"),
    ("user", "#0"),
    ("group", "nosuchgroup"),
    ("umask", "999"),
    ("umask", "abc"),
    ("memory-limit", "lots"),
    ("stack-size", "big"),
    ("request-timeout", "-5"),
    ("request-timeout", "ten"),
    ("home", "relative/dir"),
    ("server-metrics", "maybe"),
])
def test_daemon_process_bad_value(apache, option, value):
    assert_fails(apache, "WSGIDaemonProcess bad %s=%s" % (option, value),
                 "WSGIDaemonProcess", option, value)


@pytest.mark.parametrize("option,value", [
    ("threads", "-1"),            # a whole number in a range
    ("header-buffer-size", "100"),  # a byte count
    ("request-timeout", "ten"),   # seconds
    ("umask", "999"),
])
def test_daemon_process_error_message_is_readable(apache, option, value):
    # No printf conversion may be left unexpanded in a message (e.g. '%ld' from a format that
    # apr_psprintf does not know).
    out = assert_fails(apache, "WSGIDaemonProcess bad %s=%s" % (option, value),
                       "WSGIDaemonProcess", option, value)
    message = out.replace("%{", "")
    assert not re.search(r"%l*[dus]\b|%lld|%zu", message), message


def test_daemon_process_unknown_option(apache):
    assert_fails(apache, "WSGIDaemonProcess d threads=2 no-such-option=1",
                 "WSGIDaemonProcess", "no-such-option")


def test_daemon_process_option_without_value(apache):
    assert_fails(apache, "WSGIDaemonProcess d threads", "WSGIDaemonProcess", "threads")


def test_daemon_process_needs_a_name(apache):
    assert_fails(apache, "WSGIDaemonProcess", "WSGIDaemonProcess")


def test_daemon_process_duplicate_name(apache):
    assert_fails(apache, """
        WSGIDaemonProcess twice threads=1
        WSGIDaemonProcess twice threads=2
    """, "WSGIDaemonProcess", "twice")


def test_daemon_process_duplicate_name_across_virtual_hosts(apache):
    assert_fails(apache, """
        <VirtualHost 127.0.0.1:*>
            ServerName one.example
            WSGIDaemonProcess shared threads=1
        </VirtualHost>
        <VirtualHost 127.0.0.1:*>
            ServerName two.example
            WSGIDaemonProcess shared threads=1
        </VirtualHost>
    """, "WSGIDaemonProcess", "shared")


def test_script_reloading_in_vhost_and_daemon_in_vhost(apache):
    assert_ok(apache, in_vhost("WSGIDaemonProcess vhd threads=2\n"
                               "    WSGIProcessGroup vhd\n"
                               "    WSGIScriptReloading Off"))


# ---- a whole configuration, IfModule, LogLevel -------------------------------------------------

FULL = """
WSGIPythonHome /usr
WSGIPythonPath @ROOT@/lib
WSGIPythonOptimize 1
WSGIPythonHashSeed 0
WSGIPythonWarnings ignore::DeprecationWarning
WSGIPythonWarnings default::ResourceWarning
WSGIDontWriteBytecode On
WSGIRestrictEmbedded Off
WSGIRestrictStdin On
WSGIRestrictStdout Off
WSGIRestrictSignal On
WSGISocketPrefix @ROOT@/wsgi
WSGIDaemonProcess site processes=2 threads=5 display-name=%{GROUP} lang=C.UTF-8 \\
    locale=C.UTF-8 queue-timeout=45 socket-timeout=60 request-timeout=60 \\
    graceful-timeout=15 maximum-requests=1000 python-path=@ROOT@/lib
WSGIImportScript @ROOT@/import.wsgi process-group=%{GLOBAL} application-group=%{GLOBAL}
WSGIImportScript @ROOT@/import.wsgi process-group=site application-group=%{GLOBAL}
WSGIScriptAlias /app @ROOT@/app.wsgi process-group=site application-group=%{GLOBAL}
WSGIScriptAlias /embedded @ROOT@/app.wsgi
WSGIScriptAliasMatch ^/scripts/([^/]+) @ROOT@/scripts/$1.wsgi
WSGIHandlerScript wsgi-handler @ROOT@/handler.wsgi
WSGIPassAuthorization On
WSGIChunkedRequest On
WSGIMapHEADToGET Auto
LogLevel info wsgi:debug
<Directory @ROOT@/scripts>
    WSGIApplicationGroup %{GLOBAL}
    WSGIScriptReloading Off
    WSGICallableObject application
</Directory>
<Location /embedded>
    WSGIApplicationGroup %{RESOURCE}
    WSGIPassAuthorization Off
</Location>
<VirtualHost 127.0.0.1:*>
    ServerName other.example
    WSGIDaemonProcess other threads=3
    WSGIProcessGroup other
    WSGIApplicationGroup %{SERVER}
    WSGIScriptAlias / @ROOT@/app.wsgi
    WSGIScriptReloading On
    WSGIMapHEADToGET Off
</VirtualHost>
"""


def test_full_mod_wsgi6_configuration(apache):
    assert_ok(apache, FULL)


def test_full_configuration_with_one_bad_value_fails(apache):
    # The same configuration is refused as soon as one value is wrong.
    assert_fails(apache, FULL.replace("WSGIPythonHashSeed 0", "WSGIPythonHashSeed zero"),
                 "WSGIPythonHashSeed", "zero")


@pytest.mark.parametrize("name", ["mod_wsgi.c", "wsgi_module"])
def test_ifmodule_block_is_active(apache, name):
    # A block that is read must fail on the wrong value inside it; the negated one is skipped.
    assert_fails(apache, "<IfModule %s>\n    WSGIPythonOptimize 7\n</IfModule>" % name,
                 "WSGIPythonOptimize", "7")
    assert_ok(apache, "<IfModule !%s>\n    NoSuchDirective here\n</IfModule>\n"
                      "<IfModule %s>\n    WSGIPythonOptimize 2\n</IfModule>" % (name, name))


@pytest.mark.parametrize("name", ["mod_wsgi.c", "wsgi_module"])
def test_ifmodule_block_inactive_without_module(apache, name):
    # The check above means something: without the module, the block is not read.
    assert_ok(apache, "<IfModule %s>\n    WSGIPythonOptimize 7\n</IfModule>" % name, module=None)


@pytest.mark.parametrize("level", ["wsgi:debug", "info wsgi:debug", "warn wsgi:trace1",
                                   "wsgi:error"])
def test_loglevel_wsgi_accepted(apache, level):
    assert_ok(apache, "LogLevel %s" % level)


# ---- .htaccess (Apache started once for all of them) -----------------------------------------

HTACCESS_OK = {
    "callable": "WSGICallableObject app",
    "passauth": "WSGIPassAuthorization On",
    "reload": "WSGIScriptReloading Off",
    "chunked": "WSGIChunkedRequest On",
    "maphead": "WSGIMapHEADToGET Auto",
    "all": "WSGICallableObject %{ENV:CALLABLE}\nWSGIPassAuthorization off\n"
           "WSGIScriptReloading on\nWSGIChunkedRequest Off\nWSGIMapHEADToGET On",
}

HTACCESS_NOT_ALLOWED = {
    "appgroup": "WSGIApplicationGroup %{GLOBAL}",
    "procgroup": "WSGIProcessGroup %{GLOBAL}",
    "alias": "WSGIScriptAlias /x @ROOT@/app.wsgi",
    "pypath": "WSGIPythonPath /tmp",
    "optimize": "WSGIPythonOptimize 1",
    "import": "WSGIImportScript @ROOT@/import.wsgi process-group=%{GLOBAL} "
              "application-group=%{GLOBAL}",
    "daemon": "WSGIDaemonProcess fromht threads=1",
}

HTACCESS_BAD_VALUE = {
    "badreload": ("WSGIScriptReloading maybe", "maybe"),
    "badhead": ("WSGIMapHEADToGET sometimes", "sometimes"),
    "badchunked": ("WSGIChunkedRequest yes", "yes"),
}


@pytest.fixture(scope="module")
def htaccess_server(module_apache):
    files = {"app.wsgi": HELLO, "import.wsgi": "x = 1\n"}
    cases = {}
    cases.update({"ok/%s" % k: v for k, v in HTACCESS_OK.items()})
    cases.update({"no/%s" % k: v for k, v in HTACCESS_NOT_ALLOWED.items()})
    cases.update({"bad/%s" % k: v for k, (v, _) in HTACCESS_BAD_VALUE.items()})
    cases["authonly/reload"] = "WSGIScriptReloading Off"
    a = module_apache("""
        <Directory @ROOT@/htdocs>
            AllowOverride FileInfo
        </Directory>
        <Directory @ROOT@/htdocs/authonly>
            AllowOverride AuthConfig
        </Directory>
    """, start=False, files=files)
    for path, text in cases.items():
        a.write("htdocs/%s/.htaccess" % path, text.replace("@ROOT@", a.root) + "\n")
        a.write("htdocs/%s/file.txt" % path, "static\n")
    a.write("htdocs/plain/file.txt", "static\n")
    a.start()
    return a


def test_htaccess_control_file_served(htaccess_server):
    r = htaccess_server.get("/plain/file.txt")
    assert r.status == 200 and r.body == b"static\n"


@pytest.mark.parametrize("case", sorted(HTACCESS_OK))
def test_htaccess_fileinfo_directive_accepted(htaccess_server, case):
    a = htaccess_server
    a.mark_log()
    r = a.get("/ok/%s/file.txt" % case)
    assert r.status == 200, (r, a.new_log())
    assert r.body == b"static\n"


@pytest.mark.parametrize("case", sorted(HTACCESS_NOT_ALLOWED))
def test_htaccess_directive_not_allowed(htaccess_server, case):
    a = htaccess_server
    a.mark_log()
    r = a.get("/no/%s/file.txt" % case)
    assert r.status == 500
    directive = HTACCESS_NOT_ALLOWED[case].split()[0]
    assert a.wait_log(r"\.htaccess: %s not allowed here" % directive), a.new_log()


@pytest.mark.parametrize("case", sorted(HTACCESS_BAD_VALUE))
def test_htaccess_wrong_value_refused(htaccess_server, case):
    a = htaccess_server
    line, value = HTACCESS_BAD_VALUE[case]
    a.mark_log()
    r = a.get("/bad/%s/file.txt" % case)
    assert r.status == 500
    assert a.wait_log(r"\.htaccess: .*%s" % line.split()[0]), a.new_log()
    lines = a.log_lines(r"\.htaccess")
    assert any(value in l for l in lines), lines


def test_htaccess_fileinfo_directive_needs_fileinfo_override(htaccess_server):
    a = htaccess_server
    a.mark_log()
    r = a.get("/authonly/reload/file.txt")
    assert r.status == 500
    assert a.wait_log(r"\.htaccess: WSGIScriptReloading not allowed here"), a.new_log()
