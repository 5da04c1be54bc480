"""Sound for the terminal session: devices, microphone, speaker (jitter buffer), WAV files.

Modules, one job each: ``pcm`` (formats and resampling, pure; the server uses it too),
``devices`` (listing, choosing, opening at a supported rate), ``microphone`` and ``speaker``
(the PortAudio shells), ``handoff`` (callback thread to event loop), ``jitter`` (the playback
buffer), ``framing`` (any rate to 20 ms wire frames), ``wav`` (files), ``errors``.

This package imports nothing at import time that needs PortAudio: ``sounddevice`` is loaded on
first use of a device (``portaudio``), so ``pcm``, ``wav`` and the buffers work everywhere.
"""
