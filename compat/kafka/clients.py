#!/usr/bin/env python3
"""Real Kafka clients for strata's broker tests (tests/broker_to_strata/).

Producers and admin calls go through confluent-kafka (librdkafka); a second consumer is
kafka-python, so two independent client implementations read what the broker serves.

    clients.py create BOOTSTRAP TOPIC PARTITIONS  create a topic (replication factor 1)
    clients.py write BOOTSTRAP LOG_DIR          the scenario below; prints `W name count` lines
    clients.py write-more BOOTSTRAP             a few more records and an open transaction
    clients.py append-all BOOTSTRAP T:P...      idempotent and transactional appends to each
    clients.py times BOOTSTRAP T:P:SPEC...      ListOffsets by timestamp (or `max`) of each
    clients.py read BOOTSTRAP ISOLATION T:P...  every record of each partition (confluent-kafka)
    clients.py read-kp BOOTSTRAP T:P:FROM...    records from offset FROM on (kafka-python)
    clients.py resume BOOTSTRAP GROUP T:P...    where a consumer of GROUP resumes, both clients

`read` prints, per partition, `P topic partition log_start end` (end: the high watermark, or the
last stable offset when read committed) and one `R ...` line per record:

    R topic partition offset ts_type timestamp key value header...

ts_type is 0 (CreateTime) or 1 (LogAppendTime); key and value are hex, `-` for null, `=` for
empty; each header is `name_hex:value_hex` (same encoding). The Rust test formats strata's reads
the same way and compares the lines.

`resume` prints, per client and partition, what a consumer of the group (assigned the
partition, no offset given, auto.offset.reset=none/error so that a missing commit cannot pass for
one) gets: `G client group topic partition committed position first`, where committed is the
group's committed offset, position where the consumer starts, and first the offset of the first
record it receives (`-` for none: no commit, or the partition's end).
"""

import os
import sys
import time

CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]
# CreateTime timestamps a few minutes old: well inside the default 7-day retention.
BASE_TS = (int(time.time() * 1000) - 600_000) // 1000 * 1000


def hexs(b):
    if b is None:
        return "-"
    if isinstance(b, str):
        b = b.encode()
    return b.hex() if b else "="


def line(topic, partition, offset, ts_type, ts, key, value, headers):
    hs = " ".join("%s:%s" % (hexs(k), hexs(v)) for k, v in (headers or []))
    return ("R %s %d %d %d %d %s %s %s" % (topic, partition, offset, ts_type, ts, hexs(key),
                                           hexs(value), hs)).rstrip()


def admin(bootstrap):
    from confluent_kafka.admin import AdminClient
    return AdminClient({"bootstrap.servers": bootstrap})


def create_topics(bootstrap, specs):
    from confluent_kafka.admin import NewTopic
    a = admin(bootstrap)
    futures = a.create_topics(
        [NewTopic(name, num_partitions=parts, replication_factor=1, config=config)
         for name, parts, config in specs], operation_timeout=30)
    for name, f in futures.items():
        f.result(timeout=60)


def producer(bootstrap, **extra):
    from confluent_kafka import Producer
    conf = {"bootstrap.servers": bootstrap, "linger.ms": 5, "acks": "all"}
    conf.update(extra)
    return Producer(conf)


def send(p, topic, partition, key, value, ts=None, headers=None):
    kwargs = {"partition": partition}
    if ts is not None:
        kwargs["timestamp"] = ts
    if headers:
        kwargs["headers"] = headers
    while True:
        try:
            p.produce(topic, value=value, key=key, **kwargs)
            return
        except BufferError:
            p.poll(0.1)


def flush(p):
    left = p.flush(60)
    if left:
        raise SystemExit("producer: %d messages not delivered" % left)


def record_fields(i):
    """Keys, values and headers with nulls and empties mixed in."""
    key = None if i % 7 == 3 else b"key-%d" % (i % 40)
    value = b"" if i % 11 == 5 else (b"value-%d-" % i) * (1 + i % 5)
    headers = None
    if i % 3 == 0:
        headers = [("h1", b"a%d" % i), ("empty", b"")]
    elif i % 3 == 1:
        headers = [("null-value", None)]
    return key, value, headers


def wait_until(what, check, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if check():
            return
        time.sleep(0.25)
    raise SystemExit("timed out waiting for " + what)


def earliest(bootstrap, topic, partition):
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "strata-probe",
                  "enable.auto.commit": False})
    try:
        low, _high = c.get_watermark_offsets(TopicPartition(topic, partition), timeout=30)
        return low
    finally:
        c.close()


def latest(bootstrap, topic, partition):
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "strata-probe",
                  "enable.auto.commit": False})
    try:
        _low, high = c.get_watermark_offsets(TopicPartition(topic, partition), timeout=30)
        return high
    finally:
        c.close()


def write(bootstrap, log_dir):
    create_topics(bootstrap, [
        ("codecs", len(CODECS), {}),
        ("append-time", 1, {"message.timestamp.type": "LogAppendTime"}),
        ("idempotent", 2, {}),
        ("txn", 2, {}),
        ("compacted", 1, {"cleanup.policy": "compact", "segment.ms": "500",
                          "min.cleanable.dirty.ratio": "0.01", "min.compaction.lag.ms": "0",
                          "delete.retention.ms": "86400000"}),
        ("compacted-txn", 1, {"cleanup.policy": "compact", "segment.ms": "500",
                              "min.cleanable.dirty.ratio": "0.01", "min.compaction.lag.ms": "0",
                              "delete.retention.ms": "86400000"}),
        ("deleted", 1, {}),
        ("retention", 1, {"retention.ms": "3600000", "segment.ms": "500"}),
    ])

    # Every codec, one partition each, headers and null/empty keys and values, CreateTime.
    for part, codec in enumerate(CODECS):
        p = producer(bootstrap, **{"compression.type": codec, "linger.ms": 20})
        for i in range(300):
            key, value, headers = record_fields(i)
            send(p, "codecs", part, key, value, BASE_TS + i * 10 + part, headers)
        flush(p)
    print("W codecs %d" % (300 * len(CODECS)))

    # LogAppendTime: the broker stamps each batch.
    p = producer(bootstrap, **{"compression.type": "lz4"})
    for i in range(100):
        key, value, headers = record_fields(i)
        send(p, "append-time", 0, key, value, BASE_TS + i, headers)
        if i % 25 == 24:
            flush(p)
    flush(p)
    print("W append-time 100")

    # An idempotent producer (producer id, epoch, sequences).
    p = producer(bootstrap, **{"enable.idempotence": True, "compression.type": "zstd"})
    for i in range(400):
        key, value, headers = record_fields(i)
        send(p, "idempotent", i % 2, key, value, None, headers)
        if i % 50 == 49:
            flush(p)
    flush(p)
    print("W idempotent 400")

    # Transactions committed and aborted, two transactional producers overlapping, plain data
    # in between.
    ta = producer(bootstrap, **{"transactional.id": "strata-a"})
    tb = producer(bootstrap, **{"transactional.id": "strata-b", "compression.type": "gzip"})
    plain = producer(bootstrap)
    ta.init_transactions(60)
    tb.init_transactions(60)
    n = 0
    for round_ in range(8):
        ta.begin_transaction()
        for i in range(6):
            send(ta, "txn", i % 2, b"a%d" % n, b"txn-a-%d-%d" % (round_, i), None,
                 [("round", b"%d" % round_)])
            n += 1
        flush(ta)
        for i in range(3):
            send(plain, "txn", i % 2, None, b"plain-%d-%d" % (round_, i))
            n += 1
        flush(plain)
        tb.begin_transaction()
        for i in range(4):
            send(tb, "txn", (i + 1) % 2, b"b%d" % n, b"txn-b-%d-%d" % (round_, i))
            n += 1
        flush(tb)
        if round_ % 3 == 1:
            ta.abort_transaction(60)
        else:
            ta.commit_transaction(60)
        for i in range(2):
            send(plain, "txn", i % 2, b"p", b"plain2-%d-%d" % (round_, i))
            n += 1
        flush(plain)
        if round_ % 2 == 0:
            tb.abort_transaction(60)
        else:
            tb.commit_transaction(60)
    print("W txn %d" % n)

    # A compacted topic: several rounds over 30 keys, tombstones, segments rolled by time so the
    # cleaner can clean all but the active one; wait until the cleaner checkpointed it.
    p = producer(bootstrap)
    n = 0
    for round_ in range(6):
        for k in range(30):
            # Tombstones in round 3 (overwritten later: the cleaner drops them) and in the last
            # round (kept: delete.retention.ms is a day).
            value = None if (round_ in (3, 5) and k % 4 == 0) else b"v%d-%d" % (round_, k)
            send(p, "compacted", 0, b"k%d" % k, value, None,
                 [("r", b"%d" % round_)] if k % 5 == 0 else None)
            n += 1
        flush(p)
        time.sleep(0.6)
    send(p, "compacted", 0, b"last", b"roll")
    flush(p)
    n += 1
    checkpoint = os.path.join(log_dir, "cleaner-offset-checkpoint")

    # Cleaned up to the "last" record (offset n - 1), which opened the active segment: every
    # round is cleaned and the cleaner has nothing left to do, so the broker's reads below and
    # the files read after its stop hold the same records. (Waiting for any cleaning at all
    # left later rounds to a cleaning that could run between those reads, and could find only
    # the first round, with nothing to remove, cleaned.)
    def cleaned():
        try:
            with open(checkpoint) as f:
                return any(l.startswith("compacted 0 ") and int(l.split()[2]) >= n - 1
                           for l in f.read().splitlines()[2:])
        except (OSError, ValueError, IndexError):
            return False
    wait_until("the cleaner to clean topic compacted", cleaned)
    print("W compacted %d" % n)

    # A compacted topic with transactions: the cleaner drops aborted data, keeps the markers
    # (a day's delete.retention.ms) and keeps a producer's last batch empty once its records are
    # gone: producer "once" writes one batch whose keys later rounds overwrite.
    t = producer(bootstrap, **{"transactional.id": "strata-compacted", "compression.type": "lz4"})
    t.init_transactions(60)
    idem = producer(bootstrap, **{"enable.idempotence": True, "compression.type": "zstd"})
    once = producer(bootstrap, **{"enable.idempotence": True})
    send(once, "compacted-txn", 0, b"k0", b"once-0")
    send(once, "compacted-txn", 0, b"k1", b"once-1")
    flush(once)
    for round_ in range(4):
        t.begin_transaction()
        for k in range(6):
            send(t, "compacted-txn", 0, b"k%d" % k, b"txn-%d-%d" % (round_, k),
                 None, [("round", b"%d" % round_)])
        flush(t)
        if round_ % 2 == 0:
            t.commit_transaction(60)
        else:
            t.abort_transaction(60)
        for k in range(3, 9):
            value = None if (round_ == 3 and k % 3 == 0) else b"idem-%d-%d" % (round_, k)
            send(idem, "compacted-txn", 0, b"k%d" % k, value)
        flush(idem)
        time.sleep(0.6)
    send(idem, "compacted-txn", 0, b"last", b"roll")
    flush(idem)
    end = latest(bootstrap, "compacted-txn", 0)

    def cleaned_txn():
        try:
            with open(checkpoint) as f:
                return any(l.startswith("compacted-txn 0 ") and int(l.split()[2]) >= end - 1
                           for l in f.read().splitlines()[2:])
        except (OSError, ValueError, IndexError):
            return False
    wait_until("the cleaner to clean topic compacted-txn", cleaned_txn)
    print("W compacted-txn %d" % end)

    # DeleteRecords moves the log start offset.
    from confluent_kafka import TopicPartition
    p = producer(bootstrap)
    for i in range(120):
        key, value, headers = record_fields(i)
        send(p, "deleted", 0, key, value, None, headers)
    flush(p)
    a = admin(bootstrap)  # kept alive until its futures complete
    for f in a.delete_records([TopicPartition("deleted", 0, 45)]).values():
        f.result(timeout=60)
    print("W deleted 120")

    # Time retention: segments of old records roll and are deleted.
    p = producer(bootstrap)
    old = int(time.time() * 1000) - 2 * 3600 * 1000
    for round_ in range(2):
        for i in range(40):
            send(p, "retention", 0, b"r%d" % i, b"old-%d-%d" % (round_, i), old + i)
        flush(p)
        time.sleep(0.6)
    for i in range(10):
        send(p, "retention", 0, b"n%d" % i, b"new-%d" % i)
    flush(p)
    wait_until("retention to move the log start of retention-0",
               lambda: earliest(bootstrap, "retention", 0) > 0)
    print("W retention 90")


def write_more(bootstrap):
    """Records written just before a kill: plain data and a transaction left open."""
    p = producer(bootstrap, **{"compression.type": "snappy"})
    for i in range(50):
        key, value, headers = record_fields(i)
        send(p, "codecs", 2, key, value, BASE_TS + 100_000 + i, headers)
    flush(p)
    # The longest timeout the broker allows (transaction.max.timeout.ms, 15 min by default): at
    # librdkafka's 60 s the coordinator could abort the transaction on a slow machine before
    # the reads and the kill that follow, and its ABORT markers moved the log end past what
    # the consumers had read.
    t = producer(bootstrap, **{"transactional.id": "strata-open", "transaction.timeout.ms": 900000})
    t.init_transactions(60)
    t.begin_transaction()
    for i in range(5):
        send(t, "txn", i % 2, b"open%d" % i, b"open-%d" % i)
    flush(t)
    plain = producer(bootstrap)
    for i in range(4):
        send(plain, "txn", i % 2, None, b"after-open-%d" % i)
    flush(plain)
    print("W more 59")
    # The transaction stays open: the process exits without committing or aborting.
    os._exit(0)


def append_all(bootstrap, targets):
    """Appends through the broker to each T:P of a handed-over topic: an idempotent producer's
    records (codec rotating by partition), then a transaction committed and one aborted."""
    t = producer(bootstrap, **{"transactional.id": "strata-append-all"})
    t.init_transactions(60)
    for n, target in enumerate(targets):
        topic, partition = target.rsplit(":", 1)
        partition = int(partition)
        p = producer(bootstrap, **{"enable.idempotence": True,
                                   "compression.type": CODECS[n % len(CODECS)]})
        for i in range(20):
            key, value, headers = record_fields(i)
            send(p, topic, partition, b"appended-%d" % i, value, None, headers)
        flush(p)
        for commit in (True, False):
            t.begin_transaction()
            for i in range(5):
                send(t, topic, partition, b"txn-%d" % i,
                     b"%s-%d" % (b"committed" if commit else b"aborted", i))
            flush(t)
            if commit:
                t.commit_transaction(60)
            else:
                t.abort_transaction(60)
    print("W append-all %d" % (30 * len(targets)))


def times(bootstrap, targets):
    """ListOffsets (AdminClient.list_offsets, read uncommitted) for each T:P:SPEC, SPEC a
    timestamp or `max` (KIP-734's max timestamp): `T topic partition spec offset timestamp`
    lines, -1 where the broker found none."""
    from confluent_kafka import TopicPartition, IsolationLevel
    from confluent_kafka.admin import OffsetSpec
    a = admin(bootstrap)
    out = []
    for target in targets:
        topic, partition, spec = target.rsplit(":", 2)
        tp = TopicPartition(topic, int(partition))
        req = OffsetSpec.max_timestamp() if spec == "max" else OffsetSpec.for_timestamp(int(spec))
        futures = a.list_offsets({tp: req}, isolation_level=IsolationLevel.READ_UNCOMMITTED,
                                 request_timeout=30)
        info = futures[tp].result(timeout=60)
        out.append("T %s %s %s %d %d" % (topic, partition, spec, info.offset, info.timestamp))
    print("\n".join(out))


def read(bootstrap, isolation, targets):
    from confluent_kafka import Consumer, KafkaError, TopicPartition
    out = []
    for target in targets:
        topic, partition = target.rsplit(":", 1)
        partition = int(partition)
        c = Consumer({"bootstrap.servers": bootstrap, "group.id": "strata-read",
                      "enable.auto.commit": False, "enable.partition.eof": True,
                      "isolation.level": isolation, "check.crcs": True,
                      "fetch.max.bytes": 1 << 20})
        try:
            tp = TopicPartition(topic, partition)
            low, high = c.get_watermark_offsets(tp, timeout=30)
            out.append("P %s %d %d %d" % (topic, partition, low, high))
            c.assign([TopicPartition(topic, partition, low)])
            deadline = time.time() + 60
            while True:
                if time.time() > deadline:
                    raise SystemExit("read %s: no end of partition within 60 s" % target)
                m = c.poll(1.0)
                if m is None:
                    continue
                if m.error():
                    if m.error().code() == KafkaError._PARTITION_EOF:
                        break
                    raise SystemExit("read %s: %s" % (target, m.error()))
                ts_type, ts = m.timestamp()
                out.append(line(topic, partition, m.offset(), 1 if ts_type == 2 else 0, ts,
                                m.key(), m.value(), m.headers()))
        finally:
            c.close()
    print("\n".join(out))


def read_kp(bootstrap, targets):
    from kafka import KafkaConsumer, TopicPartition
    out = []
    for target in targets:
        topic, partition, start = target.rsplit(":", 2)
        partition, start = int(partition), int(start)
        c = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                          consumer_timeout_ms=5000)
        try:
            tp = TopicPartition(topic, partition)
            c.assign([tp])
            end = c.end_offsets([tp])[tp]
            c.seek(tp, start)
            while c.position(tp) < end:
                batch = c.poll(timeout_ms=2000)
                for m in batch.get(tp, []):
                    out.append(line(topic, partition, m.offset, m.timestamp_type, m.timestamp,
                                    m.key, m.value, m.headers))
        finally:
            c.close()
    print("\n".join(out))


def resume_kp(bootstrap, group, targets):
    """kafka-python: committed(), then position() and the first record, as a consumer resumes."""
    from kafka import KafkaConsumer, TopicPartition
    from kafka.errors import NoOffsetForPartitionError
    out = []
    for target in targets:
        topic, partition = target.rsplit(":", 1)
        tp = TopicPartition(topic, int(partition))
        c = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False,
                          auto_offset_reset="none")
        try:
            committed = c.committed(tp)
            c.assign([tp])
            position = first = None
            try:
                position = c.position(tp)
            except NoOffsetForPartitionError:
                pass
            if position is not None and position < c.end_offsets([tp])[tp]:
                deadline = time.time() + 60
                while first is None:
                    if time.time() > deadline:
                        raise SystemExit("resume %s: no record within 60 s" % target)
                    for m in c.poll(timeout_ms=1000).get(tp, []):
                        first = m.offset
                        break
        finally:
            c.close()
        out.append("G kafka-python %s %s %d %s %s %s" % (
            group, tp.topic, tp.partition, dash(committed), dash(position), dash(first)))
    return out


def resume_ck(bootstrap, group, targets):
    """confluent-kafka: committed(), then the first message or the end, assigned without an
    offset (librdkafka starts at the committed one)."""
    from confluent_kafka import Consumer, KafkaError, TopicPartition
    out = []
    for target in targets:
        topic, partition = target.rsplit(":", 1)
        partition = int(partition)
        c = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                      "enable.auto.commit": False, "enable.partition.eof": True,
                      "auto.offset.reset": "error"})
        try:
            tp = TopicPartition(topic, partition)
            got = c.committed([tp], timeout=30)[0]
            committed = got.offset if got.offset >= 0 else None
            c.assign([tp])
            position = first = None
            deadline = time.time() + 60
            while True:
                if time.time() > deadline:
                    raise SystemExit("resume %s: no record nor end within 60 s" % target)
                m = c.poll(1.0)
                if m is None:
                    continue
                if m.error():
                    if m.error().code() == KafkaError._PARTITION_EOF:
                        position = m.offset()
                        break
                    if m.error().code() == KafkaError._AUTO_OFFSET_RESET:
                        break  # no committed offset: nowhere to resume
                    raise SystemExit("resume %s: %s" % (target, m.error()))
                position = first = m.offset()
                break
        finally:
            c.close()
        out.append("G confluent-kafka %s %s %d %s %s %s" % (
            group, topic, partition, dash(committed), dash(position), dash(first)))
    return out


def dash(v):
    return "-" if v is None else "%d" % v


def resume(bootstrap, group, targets):
    print("\n".join(resume_kp(bootstrap, group, targets) + resume_ck(bootstrap, group, targets)))


def main(argv):
    if len(argv) < 3:
        raise SystemExit(__doc__)
    cmd, bootstrap = argv[1], argv[2]
    if cmd == "create":
        create_topics(bootstrap, [(argv[3], int(argv[4]), {})])
    elif cmd == "write":
        write(bootstrap, argv[3])
    elif cmd == "write-more":
        write_more(bootstrap)
    elif cmd == "append-all":
        append_all(bootstrap, argv[3:])
    elif cmd == "times":
        times(bootstrap, argv[3:])
    elif cmd == "read":
        read(bootstrap, argv[3], argv[4:])
    elif cmd == "read-kp":
        read_kp(bootstrap, argv[3:])
    elif cmd == "resume":
        resume(bootstrap, argv[3], argv[4:])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
