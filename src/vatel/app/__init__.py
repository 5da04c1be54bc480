"""The terminal voice session (``vatel session``).

``core`` decides (a pure state machine: events in, actions out, time passed in); ``shell`` does
(asyncio: the socket, the devices, tool threads, signals). Around them: ``events`` (the
vocabulary between the two), ``printer`` (the transcript), ``tools`` (answers to ``tool_call``),
``input_file`` (a WAV as the microphone), ``terminal`` (keys), ``connect`` (token and socket,
failures in one line), ``config``, ``errors``.
"""
