"""Speech engines behind small interfaces: VAD, speech-to-text, text-to-speech and the brain.

Layer rule: engines import numpy, their model packages and ``vatel.audio.pcm`` only; the call
core and the session shell use them through these interfaces, never the packages directly.
Models load once per process and are shared by every session; their blocking calls run in
worker threads, never on the event loop.
"""
