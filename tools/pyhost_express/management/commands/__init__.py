"""runpyhost: serve this Django project with pyhost-express."""
