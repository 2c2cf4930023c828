#!/usr/bin/env python3
"""Legacy (magic 0/1) message sets written and read by kafka-python, for tests/legacy_formats.rs.

    python3 legacy_log.py write OUT.log < SPEC.json    # appends the entries of SPEC to OUT.log
    python3 legacy_log.py dump IN.log                   # one JSON line per record, as kafka-python reads it

SPEC is a JSON list of entries: {"magic": 0|1, "codec": 0-3, "log_append_time": ms or null,
"records": [{"offset": N, "timestamp": ms, "key": str|null, "value": str|null}, ...]}.
An uncompressed entry writes one message per record. A compressed entry writes one wrapper the way
a broker stores it: inner offsets relative (magic 1) or absolute (magic 0), the wrapper's offset the
last inner offset, its timestamp the largest inner one (or the log-append time, bit 3 set). Message
encoding, CRC-32 and codecs (including the magic-0 lz4 framing with Kafka's old broken header
checksum) are kafka-python's own (kafka.record.legacy_records.LegacyRecordBatchBuilder).
"""

import base64
import json
import sys

from kafka.record.legacy_records import LegacyRecordBatchBuilder
from kafka.record.memory_records import MemoryRecords
import kafka.codec
from kafka.codec import gzip_encode, snappy_encode, lz4_encode, lz4_encode_old_kafka

BIG = 1 << 30


class _Xxh32:
    """Stand-in for the `xxhash` package (kafka-python needs only xxh32(data).digest() for the
    magic-0 lz4 header checksum); written from the xxHash specification, seed 0."""

    P1, P2, P3, P4, P5 = 0x9E3779B1, 0x85EBCA77, 0xC2B2AE3D, 0x27D4EB2F, 0x165667B1
    M = 0xFFFFFFFF

    def __init__(self, data):
        self.data = bytes(data)

    @classmethod
    def _rotl(cls, x, r):
        return ((x << r) | (x >> (32 - r))) & cls.M

    def intdigest(self):
        d, M = self.data, self.M
        assert len(d) < 16, "only short inputs are needed here"
        h = (self.P5 + len(d)) & M
        i = 0
        while i + 4 <= len(d):
            h = (h + int.from_bytes(d[i:i + 4], "little") * self.P3) & M
            h = (self._rotl(h, 17) * self.P4) & M
            i += 4
        for byte in d[i:]:
            h = (h + byte * self.P5) & M
            h = (self._rotl(h, 11) * self.P1) & M
        h = ((h ^ (h >> 15)) * self.P2) & M
        h = ((h ^ (h >> 13)) * self.P3) & M
        return h ^ (h >> 16)

    def digest(self):
        return self.intdigest().to_bytes(4, "big")


if kafka.codec.xxhash is None:
    kafka.codec.xxhash = type("xxhash", (), {"xxh32": _Xxh32})


def b(s):
    return None if s is None else s.encode("utf-8")


def message_set(magic, records, relative):
    builder = LegacyRecordBatchBuilder(magic=magic, compression_type=0, batch_size=BIG)
    first = records[0]["offset"]
    for r in records:
        offset = r["offset"] - first if relative else r["offset"]
        ts = r["timestamp"] if magic == 1 else None
        assert builder.append(offset, ts, b(r.get("key")), b(r.get("value"))) is not None
    return bytes(builder.build())


def wrapper(entry):
    magic, codec, records = entry["magic"], entry["codec"], entry["records"]
    inner = message_set(magic, records, relative=(magic == 1))
    if codec == 1:
        value = gzip_encode(inner)
    elif codec == 2:
        value = snappy_encode(inner)
    elif codec == 3:
        value = lz4_encode_old_kafka(inner) if magic == 0 else lz4_encode(inner)
    else:
        raise ValueError("codec %r" % codec)
    lat = entry.get("log_append_time")
    attributes = codec | (0x08 if lat is not None and magic == 1 else 0)
    ts = lat if lat is not None else max(r["timestamp"] for r in records)
    builder = LegacyRecordBatchBuilder(magic=magic, compression_type=codec, batch_size=BIG)
    size = builder.size_in_bytes(0, ts, None, value)
    builder._buffer = bytearray(size)
    builder._encode_msg(0, records[-1]["offset"], ts if magic == 1 else -1, None, value, attributes=attributes)
    return bytes(builder._buffer)


def write(path):
    spec = json.load(sys.stdin)
    with open(path, "ab") as f:
        for entry in spec:
            if entry["codec"] == 0:
                f.write(message_set(entry["magic"], entry["records"], relative=False))
            else:
                f.write(wrapper(entry))


def b64(v):
    return None if v is None else base64.b64encode(bytes(v)).decode("ascii")


def dump(path):
    with open(path, "rb") as f:
        records = MemoryRecords(f.read())
    while records.has_next():
        batch = records.next_batch()
        for r in batch:
            ts = r.timestamp
            print(json.dumps({"offset": r.offset, "timestamp": -1 if ts is None else ts,
                              "key": b64(r.key), "value": b64(r.value)}, sort_keys=True))


if __name__ == "__main__":
    if sys.argv[1] == "write":
        write(sys.argv[2])
    elif sys.argv[1] == "dump":
        dump(sys.argv[2])
    else:
        sys.exit("usage: legacy_log.py write OUT.log < SPEC | dump IN.log")
