"""The consumer thread's fetches hand out RawRecords (``kafka_client.raw_record``): the same
records, fields and positions as aiokafka's ConsumerRecords converted by ``raw_records``
(real record batches, aiokafka's own ``PartitionRecords``; no broker)."""

from __future__ import annotations

import struct
from types import SimpleNamespace

from aiokafka.consumer.fetcher import FetchResult, PartitionRecords
from aiokafka.record.default_records import DefaultRecordBatchBuilder
from aiokafka.record.memory_records import MemoryRecords
from aiokafka.structs import TopicPartition

from tcnad.topology.wire.decode import RawRecord, raw_records
from tcnad.topology.worker.kafka_client import BatchConsumerThread, raw_record

TP = TopicPartition("readings", 3)


def batches(first: int, sizes: list[int]) -> bytes:
    """Record batches from offset ``first``: keys, a null key, null values, headers."""
    out, offset = bytearray(), first
    for size in sizes:
        b = DefaultRecordBatchBuilder(2, 0, 0, -1, -1, -1, 10**7)
        for i in range(size):
            o = offset + i
            key = None if o % 7 == 0 else b"s-%d" % (o % 5)
            value = None if o % 11 == 0 else b'{"stream":"s","ts":%d,"value":1}' % o
            b.append(
                i, timestamp=1_700_000_000_000 + o, key=key, value=value, headers=[("h", b"x")]
            )
        raw = b.build()
        raw[0:8] = struct.pack(">q", offset)  # the batch's base offset
        out += raw
        offset += size
    return bytes(out)


def records(data: bytes, fetch_offset: int) -> PartitionRecords:
    return PartitionRecords(TP, MemoryRecords(data), None, fetch_offset, None, None, True, 0)


def test_raw_records_are_the_consumer_records_fields_and_positions() -> None:
    data = batches(100, [30, 1, 50])
    plain, raw = records(data, 105), records(data, 105)  # a fetch that starts mid-batch
    raw._consumer_record = raw_record  # what BatchConsumerThread._raw_fetches sets
    want = raw_records([list(plain)])
    got = list(raw)
    assert all(type(r) is RawRecord for r in got)
    assert got == want and len(got) == 76 and got[0].offset == 105
    assert raw.next_fetch_offset == plain.next_fetch_offset == 181


def test_the_fetches_waiting_are_made_to_hand_out_raw_records() -> None:
    data = batches(0, [10])
    waiting = records(data, 0)
    fetcher = SimpleNamespace(
        _records={
            TP: FetchResult(TP, assignment=None, partition_records=waiting, backoff=0),
            TopicPartition("readings", 4): FetchResult(
                TopicPartition("readings", 4), assignment=None, partition_records=None, backoff=0
            ),
        }
    )
    BatchConsumerThread._raw_fetches(SimpleNamespace(_fetcher=fetcher))  # type: ignore[arg-type]
    got = list(waiting)
    assert [type(r) for r in got] == [RawRecord] * 10 and [r.offset for r in got] == list(range(10))
    BatchConsumerThread._raw_fetches(SimpleNamespace())  # type: ignore[arg-type]  # no fetcher: nothing


def test_a_batch_of_both_kinds_keeps_its_order() -> None:
    data = batches(0, [6])
    consumer_records = list(records(data, 0))
    converted = raw_records([consumer_records])
    mixed = [converted[:2] + consumer_records[2:4] + converted[4:]]
    assert raw_records(mixed) == converted
    assert raw_records(mixed)[0] is converted[0]  # a RawRecord is kept, not copied
