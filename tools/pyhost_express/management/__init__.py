"""Django management commands of pyhost_express (runpyhost)."""
