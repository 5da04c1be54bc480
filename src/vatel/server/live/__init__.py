"""The live call: the session WebSocket (``/v1/connection``), its pure call core and its shell."""
