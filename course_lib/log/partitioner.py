"""Which partition a record goes to: Kafka's default partitioner, exactly.

For a record with a key, every Kafka client computes::

    partition = (murmur2(key_bytes) & 0x7fffffff) % num_partitions

with MurmurHash2 (32-bit, seed ``0x9747b28c``) as in the Java client's
``Utils.murmur2``. kafka-python and librdkafka's ``murmur2_random`` partitioner
agree, so a key lands on the same partition here as on a real broker. Same key,
same partition, so the events of one order stay in order.

The Java client's ``murmur2`` returns a signed 32-bit int; ours returns the same
32 bits as an unsigned int (as kafka-python does). ``& 0x7fffffff`` clears the
sign bit either way, so the partition is the same.

Records without a key
---------------------
The Java producer since Kafka 3.3 (KIP-794, the "built-in partitioner") sends
keyless records to one partition until its batch is full or sent, then moves to
another partition: *sticky per batch*. kafka-python instead picks a random
available partition for every keyless record. The embedded :class:`Producer`
models the Java client (sticky per batch, switching with a seeded random
generator); :class:`StickyPartitioner` holds that choice. Either way keyless
records have no per-key order to keep.
"""

from __future__ import annotations

import random
from typing import overload

SEED = 0x9747B28C
_M = 0x5BD1E995
_MASK = 0xFFFFFFFF


@overload
def to_bytes(data: None) -> None: ...
@overload
def to_bytes(data: bytes | str) -> bytes: ...
def to_bytes(data: bytes | str | None) -> bytes | None:
    """Keys and values travel as bytes; a ``str`` is encoded as UTF-8."""
    if data is None or isinstance(data, bytes):
        return data
    if isinstance(data, str):
        return data.encode("utf-8")
    if isinstance(data, (bytearray, memoryview)):
        return bytes(data)
    raise TypeError(
        f"keys and values must be bytes or str (or None), not {type(data).__name__}; "
        "serialize it first, for example json.dumps(value).encode()"
    )


def murmur2(data: bytes | str) -> int:
    """MurmurHash2, 32-bit, seed 0x9747b28c, as Kafka's Java client computes it.

    Returns an unsigned 32-bit int. Written for speed: Python has no 32-bit
    integers, so every multiply is masked back to 32 bits by hand.
    """
    if isinstance(data, str):
        data = data.encode("utf-8")
    length = len(data)
    h = (SEED ^ length) & _MASK
    end = length & ~3
    # Four bytes at a time, little-endian, as the Java code reads them.
    for i in range(0, end, 4):
        k = (data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24)) * _M & _MASK
        k = (k ^ (k >> 24)) * _M & _MASK
        h = (h * _M & _MASK) ^ k
    # The last 1-3 bytes (Java's switch with fall-through).
    extra = length & 3
    if extra:
        if extra == 3:
            h ^= data[end + 2] << 16
        if extra >= 2:
            h ^= data[end + 1] << 8
        h = (h ^ data[end]) * _M & _MASK
    h = (h ^ (h >> 13)) * _M & _MASK
    return h ^ (h >> 15)


def partition_for(key: bytes | str, num_partitions: int) -> int:
    """The partition Kafka's default partitioner picks for a non-null ``key``."""
    if key is None:
        raise ValueError(
            "partition_for needs a key: keyless records are placed by the producer "
            "(sticky per batch, see StickyPartitioner)"
        )
    if num_partitions < 1:
        raise ValueError(f"num_partitions must be at least 1, got {num_partitions}")
    return (murmur2(key) & 0x7FFFFFFF) % num_partitions


class StickyPartitioner:
    """Where keyless records go: one partition per topic until the batch closes.

    This is the Java producer's behaviour since Kafka 3.3 (KIP-794): sticking to
    one partition fills batches faster, so keyless traffic is sent in fewer,
    bigger requests than a random choice per record would give.
    """

    def __init__(self, seed: int = 0) -> None:
        self._random = random.Random(seed)
        self._current: dict[str, int] = {}

    def partition(self, topic: str, num_partitions: int) -> int:
        """The sticky partition of ``topic``, choosing one if there is none yet."""
        current = self._current.get(topic)
        if current is None or current >= num_partitions:
            current = self._current[topic] = self._random.randrange(num_partitions)
        return current

    def batch_closed(self, topic: str, num_partitions: int) -> None:
        """The batch for the sticky partition was sent or filled: move to another one."""
        old = self._current.get(topic)
        if old is None or num_partitions == 1:
            self._current[topic] = self._random.randrange(num_partitions)
            return
        choice = self._random.randrange(num_partitions - 1)
        self._current[topic] = choice + 1 if choice >= old else choice
