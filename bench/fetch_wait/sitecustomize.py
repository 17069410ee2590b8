"""Benchmark-only: put this directory on a worker's PYTHONPATH to set the consumer fetch
wait that Faust hard-codes (``fetch_max_wait_ms=1500`` in faust/transport/drivers/
aiokafka.py) to ``BENCH_FETCH_MAX_WAIT_MS``. ``bench/latency.py --worker-fetch-wait-ms``
uses it to show what that one setting costs on the embedded broker.
"""

import os

import aiokafka

_WAIT_MS = os.environ.get("BENCH_FETCH_MAX_WAIT_MS")
_original_init = aiokafka.AIOKafkaConsumer.__init__


def _init(self, *args, **kwargs):  # type: ignore[no-untyped-def]
    if _WAIT_MS:
        kwargs["fetch_max_wait_ms"] = int(_WAIT_MS)
    _original_init(self, *args, **kwargs)


aiokafka.AIOKafkaConsumer.__init__ = _init  # type: ignore[method-assign]
