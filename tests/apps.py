"""Real framework applications (Flask, Django from Debian) that several test modules serve.

framework_files(prefix) gives the files to write into a server root: flaskapp.wsgi,
djangoapp.wsgi and the Django site beside it. Both apps report the pid that served them.
"""

FLASK = r'''
import os
from flask import Flask, request

app = Flask(__name__)

@app.route('/')
def index():
    return 'flask index'

@app.route('/hello/<name>')
def hello(name):
    return 'Hello %s from %s in %d' % (name, request.script_root, os.getpid())

application = app
'''

DJANGO_SETTINGS = r'''
DEBUG = False
ALLOWED_HOSTS = ['*']
SECRET_KEY = 'pyhost-test-secret-key-not-for-production'
ROOT_URLCONF = 'pyhost_djurls'
INSTALLED_APPS = []
MIDDLEWARE = []
DATABASES = {}
USE_TZ = True
'''

DJANGO_URLS = r'''
import os
from django.http import HttpResponse
from django.urls import path

def hello(request):
    return HttpResponse('django hello at %s in %d' % (request.path, os.getpid()),
                        content_type='text/plain')

urlpatterns = [path('hello/', hello)]
'''

DJANGO_WSGI = r'''
import os, sys
sys.path.insert(0, os.path.join(os.path.dirname(__file__), 'djsite'))
os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'pyhost_djsettings')
from django.core.wsgi import get_wsgi_application
application = get_wsgi_application()
'''


def framework_files(prefix=""):
    return {prefix + "flaskapp.wsgi": FLASK, prefix + "djangoapp.wsgi": DJANGO_WSGI,
            prefix + "djsite/pyhost_djsettings.py": DJANGO_SETTINGS,
            prefix + "djsite/pyhost_djurls.py": DJANGO_URLS}
