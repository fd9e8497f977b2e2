"""The Kling API client: Multi-Elements and Omni-Video over HTTP, sync and async.

* ``client`` / ``async_client``: :class:`KlingClient` and :class:`AsyncKlingClient`.
* ``core``: the sans-IO call engine (retries, idempotent creates, reading replies);
  ``spec`` its vocabulary; ``selection``, ``tasks``, ``omni`` the endpoints.
* ``models`` (typed replies, read through ``wire``), ``masks`` (mask decoding at any
  resolution), ``webhooks`` (callbacks), ``credentials``, ``downloads`` (result URL and
  file name).
* ``validation``, ``image_refs``, ``selection_tracker``: request checks on top of
  :mod:`kling_widget.rules` (the emulator uses these too).

Imports only the leaves (``limits``, ``errors``, ``rules``, ``rle``, ``transfer``,
``backoff``); never ``media``, ``journal``, ``emulator`` or anything above.
"""
