"""The producer: keys to partitions, batches, acks, retries and idempotence.

``send()`` puts a record into the open batch of its partition and returns a
:class:`SendFuture`. A batch goes to the broker when it is full
(``batch_size`` bytes), when ``linger_ms`` has passed on the cluster's clock
(checked at the next ``send``: there is no background sender thread), on
``flush()``, or when someone waits on one of its futures. With ``linger_ms=0``
every record is its own request. Defaults follow the Java client 3.x: acks=all,
idempotence on, linger 0 (Kafka 4.0 raised ``linger.ms`` to 5).

What the source text's settings are for, all modelled here:

* ``acks``: ``0`` does not wait (offset -1, nothing to retry), ``1`` waits for
  the leader, ``"all"`` for every in-sync replica and fails while the ISR is
  smaller than the topic's ``min.insync.replicas``.
* ``retries``: a retriable failure (say, a lost acknowledgement) sends the
  batch again, bounded by ``delivery_timeout_ms`` as in Kafka.
* ``enable_idempotence``: the producer gets an id and numbers its batches per
  partition; the broker drops a batch it has already written. Without it, a
  retry after a lost ack writes the records twice. This removes duplicates
  *from producer retries, per partition, within one producer session*; it is
  not end-to-end exactly-once (that needs transactions or idempotent consumers).
* ``compression_type``: accepted and reported; the embedded log does not
  compress (there is no network to save).

After a batch finally fails, the producer takes a new producer id, as a real
idempotent producer bumps its epoch, so later batches are not refused as out
of order.
"""

from __future__ import annotations

from collections.abc import Callable

from course_lib.log.assignors import TopicPartition
from course_lib.log.errors import AckLostError, IllegalStateError, InvalidConfigError, KafkaError
from course_lib.log.partitioner import StickyPartitioner, murmur2, to_bytes
from course_lib.log.state import ClusterState
from course_lib.log.topic import BatchItem, Headers, RecordMetadata

Callback = Callable[[BaseException | None, RecordMetadata | None], None]
COMPRESSION = ("none", "gzip", "snappy", "lz4", "zstd")
# Every way to write the three acks settings, to the one the producer keeps.
ACKS: dict[str | int, str | int] = {"all": "all", "-1": "all", -1: "all", "0": 0, 0: 0, "1": 1, 1: 1}


class _Batch:
    """Records waiting to go to one partition in one request."""

    __slots__ = (
        "tp",
        "items",
        "size",
        "created_ms",
        "keyless",
        "base_offset",
        "timestamp",
        "error",
        "callbacks",
        "sent",
    )

    def __init__(self, tp: TopicPartition, created_ms: int) -> None:
        self.tp = tp
        self.items: list[BatchItem] = []
        self.size = 0
        self.created_ms = created_ms
        self.keyless = False
        self.base_offset = -1
        self.error: BaseException | None = None
        self.callbacks: list[tuple[int, Callback]] = []
        self.sent = False


class SendFuture:
    """The pending result of ``send()``; ``get()`` waits for (here: sends) its batch."""

    __slots__ = ("_producer", "_batch", "_index")

    def __init__(self, producer: Producer, batch: _Batch, index: int) -> None:
        self._producer, self._batch, self._index = producer, batch, index

    def done(self) -> bool:
        return self._batch.sent

    def get(self, timeout: float | None = None) -> RecordMetadata:
        """The record's partition, offset and timestamp; raises if the send failed."""
        batch = self._batch
        if not batch.sent:
            self._producer._send_batch(batch)
        if batch.error is not None:
            raise batch.error
        return self._producer._metadata(batch, self._index)


class Producer:
    """Sends records to an embedded :class:`Cluster`, with Kafka's producer settings."""

    def __init__(
        self,
        cluster: ClusterState,
        *,
        acks: str | int = "all",
        enable_idempotence: bool = True,
        retries: int = 2_147_483_647,
        linger_ms: int = 0,
        batch_size: int = 16_384,
        max_in_flight_requests_per_connection: int = 5,
        retry_backoff_ms: int = 100,
        delivery_timeout_ms: int = 120_000,
        compression_type: str = "none",
        client_id: str = "producer-1",
        seed: int = 0,
    ) -> None:
        acks = ACKS.get(acks, acks)
        if acks not in ("all", 0, 1):
            raise InvalidConfigError(f"acks={acks!r} is invalid; use 0, 1 or 'all' (also written -1)")
        if retries < 0:
            raise InvalidConfigError(f"retries={retries} must be >= 0")
        if compression_type not in COMPRESSION:
            raise InvalidConfigError(
                f"compression_type={compression_type!r}; valid: {', '.join(COMPRESSION)}"
            )
        if linger_ms < 0 or batch_size < 1:
            raise InvalidConfigError("linger_ms must be >= 0 and batch_size >= 1")
        if enable_idempotence:
            # The same three rules the Java client enforces (ConfigException).
            if acks != "all":
                raise InvalidConfigError(
                    "enable_idempotence=True requires acks='all' (a write acknowledged "
                    "by the leader alone could be lost and re-sent)"
                )
            if retries == 0:
                raise InvalidConfigError("enable_idempotence=True requires retries > 0")
            if not 1 <= max_in_flight_requests_per_connection <= 5:
                raise InvalidConfigError(
                    "enable_idempotence=True requires max_in_flight_requests_per_connection "
                    f"<= 5 (got {max_in_flight_requests_per_connection}): the broker "
                    "remembers only the last 5 batches per producer"
                )
        self.cluster = cluster
        self.acks = acks
        self.enable_idempotence = enable_idempotence
        self.retries = retries
        self.linger_ms = linger_ms
        self.batch_size = batch_size
        self.retry_backoff_ms = retry_backoff_ms
        self.delivery_timeout_ms = delivery_timeout_ms
        self.compression_type = compression_type
        self.client_id = client_id
        self.producer_id = cluster.new_producer_id() if enable_idempotence else -1
        self._sequences: dict[TopicPartition, int] = {}
        self._open: dict[TopicPartition, _Batch] = {}
        self._sticky = StickyPartitioner(seed)
        self._closed = False
        self.requests = 0  # produce requests sent, retries included
        self.retried = 0

    # -- sending --
    def send(
        self,
        topic: str,
        key: bytes | str | None = None,
        value: bytes | str | None = None,
        headers: dict[str, bytes | str] | Headers | None = None,
        *,
        partition: int | None = None,
        timestamp_ms: int | None = None,
        callback: Callback | None = None,
    ) -> SendFuture:
        """Queue a record; the future's ``get()`` gives its partition, offset and timestamp."""
        if self._closed:
            raise IllegalStateError("send() after close(): create a new producer")
        if key is not None and not isinstance(key, bytes):
            key = to_bytes(key)
        if value is not None and not isinstance(value, bytes):
            value = to_bytes(value)
        header_items: Headers = ()
        if headers:
            pairs = headers.items() if isinstance(headers, dict) else headers
            header_items = tuple((str(name), to_bytes(data)) for name, data in pairs)
        cluster = self.cluster
        now = cluster.clock()
        if partition is None:
            count = len(cluster.topic(topic).partitions)
            if key is not None:
                partition = (murmur2(key) & 0x7FFFFFFF) % count
            else:
                partition = self._sticky.partition(topic, count)
        else:
            cluster.partition(topic, partition)  # raises for a partition that does not exist
        tp = TopicPartition(topic, partition)
        batch = self._open.get(tp)
        size = (len(key) if key else 0) + (len(value) if value else 0)
        if size > self.batch_size and size > cluster.topics[topic].config.max_message_bytes:
            # Too big for the topic: sent alone, so only this record's future fails.
            if batch is not None:
                self._send_batch(batch)
            batch = None
        if batch is None:
            if self._open and self.linger_ms:
                self._send_expired(now)
            batch = self._open[tp] = _Batch(tp, now)
        index = len(batch.items)
        batch.items.append((key, value, header_items, now if timestamp_ms is None else timestamp_ms))
        batch.size += size
        if key is None:
            batch.keyless = True
        future = SendFuture(self, batch, index)
        if callback is not None:
            batch.callbacks.append((index, callback))
        if not self.linger_ms or batch.size >= self.batch_size or now - batch.created_ms >= self.linger_ms:
            self._send_batch(batch)
        return future

    def flush(self) -> None:
        """Send every open batch now and wait for the results (defeats linger_ms batching)."""
        for batch in list(self._open.values()):
            self._send_batch(batch)

    def close(self) -> None:
        self.flush()
        self._closed = True

    def __enter__(self) -> Producer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the request --
    def _send_expired(self, now: int) -> None:
        for batch in [b for b in self._open.values() if now - b.created_ms >= self.linger_ms]:
            self._send_batch(batch)

    def _send_batch(self, batch: _Batch) -> None:
        if batch.sent:
            return
        tp = batch.tp
        if self._open.get(tp) is batch:
            del self._open[tp]
        if batch.keyless:
            self._sticky.batch_closed(tp.topic, len(self.cluster.topic(tp.topic).partitions))
        cluster = self.cluster
        part = cluster.partition(tp.topic, tp.partition)
        sequence = -1
        if self.producer_id >= 0:
            sequence = self._sequences.get(tp, 0)
            self._sequences[tp] = sequence + len(batch.items)
        attempts_allowed = min(self.retries, self.delivery_timeout_ms // max(self.retry_backoff_ms, 1))
        attempt = 0
        while True:
            self.requests += 1
            try:
                cluster.check_writable(part, self.acks)
                base, timestamp, _duplicate = part.append(
                    batch.items, cluster.clock(), self.producer_id, sequence
                )
                if self.acks != 0 and cluster._ack_lost():
                    raise AckLostError(f"{tp}: the batch was written at offset {base}, but the ack was lost")
                batch.base_offset = base
                break
            except KafkaError as error:
                if not error.retriable or attempt >= attempts_allowed:
                    batch.error = error
                    if self.producer_id >= 0:  # start a fresh sequence, as an epoch bump does
                        self.producer_id = cluster.new_producer_id()
                        self._sequences.clear()
                    break
                attempt += 1
                self.retried += 1
        batch.sent = True
        for index, callback in batch.callbacks:
            if batch.error is not None:
                callback(batch.error, None)
            else:
                callback(None, self._metadata(batch, index))

    def _metadata(self, batch: _Batch, index: int) -> RecordMetadata:
        offset = -1 if self.acks == 0 else batch.base_offset + index
        return RecordMetadata(batch.tp.topic, batch.tp.partition, offset, batch.items[index][3])
