"""The errors of the embedded log, named after the Kafka errors they model.

Each message says what was wrong and how to fix it, because in a notebook the
error message *is* the documentation the learner reads first.
"""

from __future__ import annotations


class KafkaError(Exception):
    """Base class of every error the embedded log raises."""

    retriable = False


class InvalidConfigError(KafkaError, ValueError):
    """A topic, producer or consumer setting is outside its valid range."""


class TopicExistsError(KafkaError):
    """create_topic() for a name that already exists (Kafka: TOPIC_ALREADY_EXISTS)."""


class UnknownTopicError(KafkaError, KeyError):
    """A topic or partition that does not exist (Kafka: UNKNOWN_TOPIC_OR_PARTITION)."""

    def __str__(self) -> str:  # KeyError would print the message in quotes
        return str(self.args[0])


class RecordTooLargeError(KafkaError):
    """A record larger than the topic's ``max.message.bytes`` (Kafka: MESSAGE_TOO_LARGE)."""


class InvalidRecordError(KafkaError):
    """A record the topic cannot accept, such as a null key on a compacted topic."""


class NotEnoughReplicasError(KafkaError):
    """acks=all, but fewer in-sync replicas than ``min.insync.replicas`` (retriable)."""

    retriable = True


class LeaderNotAvailableError(KafkaError):
    """Every replica of the partition is on a stopped broker (retriable)."""

    retriable = True


class AckLostError(KafkaError):
    """The broker wrote the batch but its acknowledgement never reached the producer.

    The producer cannot tell this from a write that failed, so it retries.
    """

    retriable = True


class OutOfOrderSequenceError(KafkaError):
    """An idempotent producer's batch skipped a sequence number."""


class OffsetOutOfRangeError(KafkaError):
    """A position outside [log start, log end] with ``auto_offset_reset='none'``."""


class NoOffsetForPartitionError(KafkaError):
    """No committed offset and ``auto_offset_reset='none'``: the consumer cannot guess."""


class GroupNotEmptyError(KafkaError):
    """Resetting a group's offsets while members are running (the CLI refuses too)."""


class IllegalStateError(KafkaError):
    """A call that does not fit the object's state, such as poll() after close()."""
