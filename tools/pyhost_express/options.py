"""The options of start-server and setup-server: mod_wsgi-express 6.0.5's names, meanings and
defaults, so that a launch line switches by changing its first word. Grouped as the help shows
them; the help text is ours. Parsing only: what an option does is decided in server.py and
apacheconf.py.
"""
import argparse

MPMS = ("event", "worker", "prefork")


def fraction(text):
    """A share of --max-clients, between 0 and 1."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("%r is not a number" % text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError("%s is not between 0 and 1" % text)
    return value


def non_negative(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("%r is not a whole number" % text)
    if value < 0:
        raise argparse.ArgumentTypeError("%s is negative" % text)
    return value


def on_off_auto(text):
    value = text.capitalize()
    if value not in ("On", "Off", "Auto"):
        raise argparse.ArgumentTypeError("%r is not On, Off or Auto" % text)
    return value


def add_server_options(p, with_application=True):
    """Adds every start-server option to parser p (a Django command passes
    with_application=False: the project is the application)."""
    if with_application:
        p.add_argument("application", nargs="?", metavar="SCRIPT-OR-MODULE",
                       help="the WSGI script file (or what --application-type names)")
    _application(p.add_argument_group("the application"))
    _listening(p.add_argument_group("listening, host names and TLS"))
    _processes(p.add_argument_group("processes and threads"))
    _timeouts(p.add_argument_group("timeouts, in seconds"))
    _buffers(p.add_argument_group("queues and buffers"))
    _http(p.add_argument_group("HTTP behaviour and static files"))
    _proxy(p.add_argument_group("proxying"))
    _access(p.add_argument_group("authentication and access scripts"))
    _services(p.add_argument_group("service scripts"))
    _logs(p.add_argument_group("logging"))
    _environment(p.add_argument_group("Python and the process environment"))
    _server(p.add_argument_group("the server and its files"))
    _debugging(p.add_argument_group("debugging aids (with --debug-mode)"))
    _elsewhere(p.add_argument_group("accepted for compatibility"))


def _application(g):
    a = g.add_argument
    a("--application-type", choices=("script", "module", "paste", "static"), default="script",
      help="what the entry point is: 'script' (default), a WSGI script file; 'module', a Python "
           "module imported by name; 'paste', a PasteDeploy .ini file; 'static', a directory "
           "of files served with no application (default: the current directory)")
    a("--entry-point", metavar="FILE-PATH|MODULE",
      help="the entry point, as an option rather than an argument; wins over the argument")
    a("--callable-object", default="application", metavar="NAME",
      help="the name of the WSGI callable in the entry point (default: application)")
    a("--mount-point", default="/", metavar="URL-PATH",
      help="the URL path the application is mounted at (default: /, the whole site)")
    a("--application-group", metavar="NAME",
      help="the interpreter the application runs in (default: %%{GLOBAL}, the main "
           "interpreter); a name puts it in a sub interpreter of that name")
    a("--process-group", metavar="NAME",
      help="the name of the daemon process group (default: HOST:PORT); no effect with "
           "--embedded-mode")
    a("--embedded-mode", action="store_true",
      help="run the application in Apache's own child processes instead of a daemon "
           "process group; daemon-only options then do nothing")
    a("--reload-on-changes", action="store_true",
      help="restart the daemon processes when any Python file the application loaded "
           "changes (the entry point's own changes always count unless --disable-reloading)")
    a("--disable-reloading", action="store_true",
      help="never reload, not even when the entry point file changes")


def _listening(g):
    a = g.add_argument
    a("--host", metavar="IP-ADDRESS", help="the interface to listen on (default: all)")
    a("--port", type=int, default=8000, metavar="NUMBER",
      help="the port for plain HTTP (default: 8000)")
    a("--https-port", type=int, metavar="NUMBER",
      help="also listen for HTTPS on this port (needs a certificate and its key)")
    a("--ssl-port", type=int, dest="https_port", metavar="NUMBER",
      help="the older name of --https-port")
    a("--https-only", action="store_true",
      help="redirect every plain HTTP request to the same URL over HTTPS")
    a("--hsts-policy", metavar="PARAMS",
      help="with --https-only, the Strict-Transport-Security header to send, for example "
           "'max-age=31536000; includeSubDomains'")
    a("--ssl-certificate-file", metavar="FILE-PATH", help="the server certificate (PEM)")
    a("--ssl-certificate-key-file", metavar="FILE-PATH",
      help="the private key of the server certificate (PEM)")
    a("--ssl-certificate", metavar="FILE-PATH",
      help="shorthand for both files: FILE-PATH.crt is the certificate and FILE-PATH.key "
           "its key")
    a("--ssl-certificate-chain-file", metavar="FILE-PATH",
      help="the intermediate CA certificates that complete the server certificate's chain")
    a("--ssl-ca-certificate-file", metavar="FILE-PATH",
      help="CA certificates for checking client certificates; the whole HTTPS site then "
           "requires one, unless --ssl-verify-client names parts of it")
    a("--ssl-verify-client", action="append", default=[], metavar="URL-PATH",
      dest="ssl_verify_client_urls",
      help="require a client certificate only under this URL path (repeatable)")
    a("--ssl-environment", action="store_true",
      help="put Apache's SSL_* variables (protocol, cipher, client certificate) in the "
           "WSGI environ")
    a("--http2", action="store_true",
      help="offer HTTP/2 (h2 over HTTPS, h2c over plain HTTP) through mod_http2")
    a("--server-name", metavar="HOSTNAME",
      help="the site's host name; requests for other names are refused (403). A name "
           "starting with 'www.' also redirects the bare domain to it")
    a("--server-alias", action="append", default=[], metavar="HOSTNAME", dest="server_aliases",
      help="another host name of the site; wildcards allowed (repeatable)")
    a("--allow-localhost", action="store_true",
      help="with --server-name, still answer requests made from this machine (localhost), "
           "whatever host name they give")


def _processes(g):
    a = g.add_argument
    a("--processes", type=int, metavar="NUMBER",
      help="daemon processes running the application (default: 1; giving the option at "
           "all makes wsgi.multiprocess True)")
    a("--threads", type=int, default=5, metavar="NUMBER",
      help="request threads in each daemon process (default: 5)")
    a("--max-clients", type=int, metavar="NUMBER",
      help="connections Apache serves at once (default: 10 + max(10, 1.5 x processes x "
           "threads))")
    for name, what in (("initial-workers", "Apache workers started at once"),
                       ("minimum-spare-workers", "the fewest idle Apache workers kept"),
                       ("maximum-spare-workers", "the most idle Apache workers kept")):
        a("--" + name, type=fraction, metavar="FRACTION",
          help="%s, as a share (0 to 1) of --max-clients (default: what suits the MPM)" % what)
    a("--server-mpm", action="append", default=[], metavar="NAME", dest="server_mpm",
      help="the Apache MPM to prefer: event, worker or prefork (repeatable, in order of "
           "preference; default order: event, worker, prefork)")
    a("--mpm", action="append", dest="server_mpm", choices=MPMS,
      help="pyhost-express's older name of --server-mpm")
    a("--maximum-requests", type=non_negative, default=0, metavar="NUMBER",
      help="restart a daemon process after this many requests (default: 0, never)")
    a("--cpu-time-limit", type=non_negative, default=0, metavar="SECONDS",
      help="restart a daemon process once it has used this much CPU time (default: 0, never)")
    a("--free-threading", action="store_true",
      help="run Python without its GIL (WSGIFreeThreading); needs a free-threaded Python "
           "build such as python3.13t")
    a("--switch-interval", type=float, metavar="SECONDS",
      help="Python's thread switch interval (sys.setswitchinterval; Python's default 0.005)")


def _timeouts(g):
    a = g.add_argument
    for name, default, text in (
            ("startup-timeout", 15, "restart a daemon process that has not loaded the "
             "application in this time"),
            ("shutdown-timeout", 5, "how long a stopping daemon process may take before it "
             "is killed"),
            ("graceful-timeout", 15, "how long a daemon process due for a restart keeps "
             "serving to let its requests finish"),
            ("eviction-timeout", 0, "the same grace for a restart forced by a signal (0: "
             "--graceful-timeout's)"),
            ("restart-interval", 0, "restart daemon processes this often (0: never)"),
            ("deadlock-timeout", 60, "restart a daemon process whose GIL has been held this "
             "long"),
            ("inactivity-timeout", 0, "restart a daemon process idle this long (0: never)"),
            ("request-timeout", 60, "restart a daemon process whose requests run longer "
             "(scaled by 1 + ln(threads))"),
            ("interrupt-timeout", 0, "when a request times out, first raise "
             "mod_wsgi.RequestTimeout in its thread and wait this long (0: do not)"),
            ("connect-timeout", 15, "how long an Apache child keeps trying to reach a busy "
             "daemon process"),
            ("socket-timeout", 60, "give up on a read or write on a socket after this long "
             "(Apache's Timeout)"),
            ("queue-timeout", 45, "answer 503 to a request that waited this long for a "
             "daemon thread"),
            ("response-socket-timeout", 0, "give up writing a response to a slow client "
             "after this long (0: --socket-timeout)"),
            ("header-timeout", 15, "time allowed to receive the request line and headers"),
            ("header-max-timeout", 30, "the most --header-min-rate may stretch that to"),
            ("body-timeout", 15, "time allowed to receive the request body"),
            ("body-max-timeout", 0, "the most --body-min-rate may stretch that to (0: no "
             "limit)"),
            ("keep-alive-timeout", 2, "how long an idle keep-alive connection stays open")):
        a("--" + name, type=non_negative, default=default, metavar="SECONDS",
          help="%s (default: %d)" % (text, default))
    a("--proxy-timeout", type=non_negative, metavar="SECONDS",
      help="timeout for --proxy-mount-point backends (default: --socket-timeout)")
    a("--header-min-rate", type=non_negative, default=500, metavar="BYTES",
      help="each this many bytes of headers received adds a second to --header-timeout "
           "(default: 500)")
    a("--body-min-rate", type=non_negative, default=500, metavar="BYTES",
      help="each this many bytes of body received adds a second to --body-timeout "
           "(default: 500)")
    a("--ignore-activity", action="append", default=[], metavar="URL-PATH",
      help="requests under this URL path (a health check, say) do not count as activity "
           "for --inactivity-timeout (repeatable)")


def _buffers(g):
    a = g.add_argument
    a("--server-backlog", type=non_negative, default=500, metavar="NUMBER",
      help="listen queue of Apache's own sockets (default: 500)")
    a("--daemon-backlog", type=non_negative, default=100, metavar="NUMBER",
      help="listen queue of the daemon processes' sockets (default: 100)")
    for name, text in (("send-buffer-size", "socket send buffer towards the daemon processes"),
                       ("receive-buffer-size", "socket receive buffer from the daemon "
                        "processes"),
                       ("header-buffer-size", "largest response header block a daemon may "
                        "send (0: 32768)"),
                       ("response-buffer-size", "response bytes an Apache child buffers from "
                        "a daemon (0: 65536)")):
        a("--" + name, type=non_negative, default=0, metavar="BYTES",
          help="%s (default: 0, the system's or the module's own)" % text)
    a("--response-flush-delay", type=non_negative, default=5, metavar="MILLISECONDS",
      help="how long to wait for more response data from a daemon before sending what has "
           "arrived (default: 5)")
    a("--limit-request-body", type=non_negative, default=10485760, metavar="BYTES",
      help="the largest request body accepted (default: 10485760, 10 MB)")


def _http(g):
    a = g.add_argument
    a("--document-root", metavar="DIRECTORY-PATH",
      help="files found here are served by Apache; every other URL goes to the application "
           "(default: an empty htdocs in the server root)")
    a("--directory-index", metavar="FILE-NAME",
      help="a request for a directory of the document root that holds this file gets the "
           "file rather than the application")
    a("--directory-listing", action="store_true",
      help="list the contents of document-root directories that have no index file")
    a("--url-alias", nargs=2, action="append", default=[], dest="url_aliases",
      metavar=("URL-PATH", "FILE-PATH"),
      help="serve a static file or directory at URL-PATH (repeatable)")
    a("--allow-override", action="append", default=[], metavar="DIRECTIVE-TYPE",
      help="directive types .htaccess files in the document root may set (AllowOverride; "
           "default: None, .htaccess ignored; repeatable)")
    a("--error-document", nargs=2, action="append", default=[], dest="error_documents",
      metavar=("STATUS", "URL-PATH"),
      help="the URL that answers errors with STATUS (ErrorDocument; repeatable)")
    a("--error-override", action="store_true",
      help="replace the application's own error responses with Apache's error documents")
    a("--chunked-request", action="store_true",
      help="accept request bodies sent with chunked transfer encoding")
    a("--map-head-to-get", type=on_off_auto, default="Auto", metavar="OFF|ON|AUTO",
      help="give the application HEAD requests as GET: Auto (default) when an output filter "
           "needs the whole response, On always, Off never")
    a("--compress-responses", action="store_true",
      help="gzip text responses (HTML, plain text, CSS, JavaScript, JSON, XML) for clients "
           "that accept it")
    a("--enable-sendfile", action="store_true",
      help="let Apache use sendfile() for static files and wsgi.file_wrapper (default: off)")
    a("--mime-types", metavar="FILE-PATH",
      help="the MIME types file (default: /etc/mime.types)")
    a("--add-handler", nargs=2, action="append", default=[], dest="handler_scripts",
      metavar=("EXTENSION", "SCRIPT-PATH"),
      help="document-root files ending in EXTENSION are handled by the callable "
           "handle_request of the WSGI script SCRIPT-PATH (repeatable)")
    a("--rewrite-rules", metavar="FILE-PATH",
      help="a file of mod_rewrite rules applied to every request (default: rewrite.conf in "
           "the server root, if it exists)")
    a("--with-cgi", action="store_true",
      help="run executable .cgi files of the document root as CGI scripts")
    a("--server-status", action="store_true",
      help="Apache's status page at /server-status (mod_status, for requests from this "
           "machine)")
    a("--server-metrics", action="store_true",
      help="let the application read Apache's scoreboard through mod_wsgi.server_metrics()")


def _proxy(g):
    a = g.add_argument
    a("--proxy-mount-point", nargs=2, action="append", default=[], dest="proxy_mount_points",
      metavar=("URL-PATH", "URL"),
      help="send requests under URL-PATH to the site or sub-site at URL (repeatable)")
    a("--proxy-url-alias", nargs=2, action="append", dest="proxy_mount_points",
      metavar=("URL-PATH", "URL"), help="the older name of --proxy-mount-point")
    a("--proxy-virtual-host", nargs=2, action="append", default=[], dest="proxy_virtual_hosts",
      metavar=("HOSTNAME", "URL"),
      help="send requests for host name HOSTNAME to URL (repeatable)")
    a("--trust-proxy-header", action="append", default=[], dest="trusted_proxy_headers",
      metavar="HEADER-NAME",
      help="a header set by a trusted front-end proxy to describe the client's request, "
           "such as X-Forwarded-For (repeatable)")
    a("--trust-proxy", action="append", default=[], dest="trusted_proxies",
      metavar="IP-ADDRESS/SUBNET",
      help="an address or subnet of a trusted front-end proxy (repeatable)")


def _access(g):
    a = g.add_argument
    a("--host-access-script", metavar="SCRIPT-PATH",
      help="a Python script deciding, by client host, whether a request is allowed")
    a("--auth-user-script", metavar="SCRIPT-PATH",
      help="a Python script checking user names and passwords; the site then requires a "
           "login")
    a("--auth-type", choices=("Basic", "Digest"), default="Basic",
      help="the HTTP authentication scheme of --auth-user-script (default: Basic)")
    a("--auth-group-script", metavar="SCRIPT-PATH",
      help="a Python script returning the groups of a user; the site then requires "
           "membership of --auth-group")
    a("--auth-group", default="wsgi", metavar="NAME",
      help="the group --auth-group-script must report (default: wsgi, a placeholder)")


def _services(g):
    a = g.add_argument
    a("--service-script", nargs=2, action="append", default=[], dest="service_scripts",
      metavar=("SERVICE", "SCRIPT-PATH"),
      help="run a Python script in a daemon process of its own, named SERVICE, for as "
           "long as the server runs (repeatable)")
    a("--service-user", nargs=2, action="append", default=[], dest="service_users",
      metavar=("SERVICE", "USERNAME"), help="run as root: the account SERVICE runs as")
    a("--service-group", nargs=2, action="append", default=[], dest="service_groups",
      metavar=("SERVICE", "GROUP"), help="run as root: the group SERVICE runs as")
    a("--service-log-file", nargs=2, action="append", default=[], dest="service_log_files",
      metavar=("SERVICE", "FILE-NAME"),
      help="a log file of its own for SERVICE, in the log directory")


def _logs(g):
    a = g.add_argument
    a("--log-directory", metavar="DIRECTORY-PATH",
      help="where the log files go (default: the server root); overrides --log-to-terminal")
    a("--log-level", default="warn", metavar="NAME", help="Apache's LogLevel (default: warn)")
    a("--log-to-terminal", action="store_true",
      help="send the logs to the terminal instead of files (no rotation then)")
    a("--access-log", action="store_true", help="write an access log (default: none)")
    a("--access-log-format", metavar="FORMAT",
      help="the access log's format: 'common', 'combined' or a LogFormat string "
           "(default: common)")
    a("--access-log-name", default="access_log", metavar="FILE-NAME",
      help="the access log's file name in the log directory (default: access_log)")
    a("--error-log-format", metavar="FORMAT", help="the error log's ErrorLogFormat")
    a("--error-log-name", default="error_log", metavar="FILE-NAME",
      help="the error log's file name in the log directory (default: error_log)")
    a("--startup-log", action="store_true",
      help="write Apache's start-up messages to a file of their own (httpd -E)")
    a("--startup-log-name", default="startup_log", metavar="FILE-NAME",
      help="that file's name in the log directory (default: startup_log)")
    a("--rotate-logs", action="store_true",
      help="rotate the log files with rotatelogs once they reach --max-log-size")
    a("--max-log-size", type=non_negative, default=5, metavar="MB",
      help="the size at which a log file is rotated (default: 5)")
    a("--rotatelogs-executable", metavar="FILE-PATH",
      help="the rotatelogs program (default: the one next to Apache)")
    a("--verbose-debugging", action="store_true",
      help="log mod_pyhost's own debugging detail (WSGIVerboseDebugging)")


def _environment(g):
    a = g.add_argument
    a("--working-directory", metavar="DIRECTORY-PATH",
      help="the application's current directory, searched for imports (default: the "
           "directory this command runs in)")
    a("--python-path", action="append", default=[], metavar="DIRECTORY-PATH",
      help="another directory for sys.path (repeatable; .pth files there are not read)")
    a("--python-eggs", metavar="DIRECTORY-PATH",
      help="where Python eggs are unpacked (default: python-eggs in the server root)")
    a("--python-warnings", action="append", default=[], metavar="FILTER",
      help="a warnings filter, as python -W takes (WSGIPythonWarnings; repeatable)")
    a("--locale", metavar="NAME",
      help="LC_ALL of the daemon processes (default: this process's locale, or C.UTF-8 "
           "when that is C or POSIX)")
    a("--lang", metavar="NAME", help="LANG of the daemon processes (default: --locale)")
    a("--setenv", nargs=2, action="append", default=[], dest="setenv_variables",
      metavar=("KEY", "VALUE"), help="add KEY to every request's WSGI environ (repeatable)")
    a("--passenv", action="append", default=[], dest="passenv_variables", metavar="KEY",
      help="copy this environment variable of the server into every request's WSGI "
           "environ (repeatable)")
    a("--envvars-script", metavar="FILE-PATH",
      help="a shell script sourced before Apache starts, to set its environment (default: "
           "envvars in the server root)")
    a("--orphan-interpreter", action="store_true",
      help="do not tear Python down when a process exits (WSGIDestroyInterpreter Off)")


def _server(g):
    a = g.add_argument
    a("--user", metavar="USERNAME",
      help="run as root: the account the application runs as (required then)")
    a("--group", metavar="GROUP",
      help="run as root: the group it runs as (default: the user's group)")
    a("--server-root", metavar="DIRECTORY-PATH",
      help="where the configuration, scripts and logs go "
           "(default: $TMPDIR or /tmp, then pyhost-express-HOST-PORT-UID)")
    a("--pid-file", metavar="FILE-PATH",
      help="where Apache's parent writes its process id (default: httpd.pid in the server "
           "root)")
    a("--socket-prefix", metavar="DIRECTORY-PATH",
      help="the path prefix of the daemon processes' UNIX sockets (default: wsgi in the "
           "server root)")
    a("--include-file", action="append", default=[], dest="include_files", metavar="FILE-PATH",
      help="an Apache configuration file to include at the end (repeatable)")
    a("--httpd-executable", metavar="FILE-PATH",
      help="the Apache binary (default: apache2 or httpd on PATH, or in /usr/sbin)")
    a("--modules-directory", metavar="DIRECTORY-PATH",
      help="where Apache's modules are (default: apxs's LIBEXECDIR)")
    a("--module-path", metavar="FILE-PATH", help="the mod_pyhost.so to load")
    a("--shell-executable", metavar="FILE-PATH",
      help="the shell of the generated apachectl script (default: bash, else sh)")
    a("--process-name", metavar="NAME",
      help="the name Apache's parent process shows (for process managers that look for one)")
    a("--setup-only", action="store_true",
      help="write the configuration and an apachectl script, then exit without starting")


def _debugging(g):
    a = g.add_argument
    a("--debug-mode", action="store_true",
      help="run Apache as one process in the foreground (httpd -X) with the application "
           "embedded and stdin/stdout on the terminal, for pdb; process, thread and "
           "reloading options are then ignored")
    a("--enable-debugger", action="store_true",
      help="enter pdb post mortem when an exception escapes the application")
    a("--debugger-startup", action="store_true",
      help="enter pdb once at start-up, to set breakpoints")
    a("--enable-profiler", action="store_true",
      help="profile each request with cProfile, one .pstats file per request")
    a("--profiler-directory", default="", metavar="DIRECTORY-PATH",
      help="where the profiles go (default: pstats in the server root)")
    a("--enable-recorder", action="store_true",
      help="record each request and its response to files")
    a("--recorder-directory", default="", metavar="DIRECTORY-PATH",
      help="where the recordings go (default: archive in the server root)")
    a("--enable-coverage", action="store_true",
      help="measure code coverage with coverage.py (Debian's python3-coverage)")
    a("--coverage-directory", default="", metavar="DIRECTORY-PATH",
      help="where the coverage HTML report goes (default: htmlcov in the server root)")
    a("--enable-gdb", action="store_true", help="run Apache under gdb, to debug crashes")
    a("--gdb-executable", default="gdb", metavar="FILE-PATH",
      help="the gdb program (default: gdb)")


def _elsewhere(g):
    a = g.add_argument
    a("--enable-docs", action="store_true",
      help="mod_wsgi's documentation at /__wsgi__/docs: not bundled with mod_pyhost; "
           "accepted and ignored")
    a("--telemetry-service", metavar="TARGET",
      help="mod_wsgi's telemetry push: mod_pyhost has none; accepted and ignored")
    a("--enable-telemetry", action="store_true",
      help="mod_wsgi's bundled telemetry ingester and web UI: mod_pyhost has none; "
           "accepted and ignored")
    a("--telemetry-ui-port", type=int, default=8888, metavar="NUMBER",
      help="that web UI's port (default: 8888): accepted and ignored")
    a("--telemetry-interval", type=float, default=1.0, metavar="SECONDS",
      help="its sampling interval (default: 1.0): accepted and ignored")
    a("--telemetry-options", action="append", default=[], metavar="ARGS",
      help="what it captures: accepted and ignored")
    a("--slow-requests", type=float, metavar="SECONDS",
      help="its slow-request reports: accepted and ignored")
    a("--with-php5", action="store_true",
      help="refused: PHP 5 is long out of support and Debian no longer ships mod_php5")
