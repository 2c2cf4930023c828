#!/usr/bin/env bash
# Checks skip_count (.ci/skips.sh) on a sample of target/tmp/skipped-checks.txt: two tests skipped,
# one of them for a Kafka tool that does not compile, whose reason carries javac's errors, written
# indented (tests/common `skip()` now) and from the first column (as an older skip() wrote them).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
# shellcheck source=skips.sh
source ./skips.sh
sample=$(mktemp)
trap 'rm -f "$sample"' EXIT
expect() {
  local want=$1 got
  got=$(skip_count "$sample")
  if [ "$got" != "$want" ]; then
    echo "skip_count: $got for $want in:"
    cat "$sample"
    exit 1
  fi
}
javac_errors='/w/compat/kafka/src/KafkaIndexCheck.java:41: error: cannot find symbol
        OffsetIndex index = new OffsetIndex(file, base, -1, false);
                            ^
  symbol:   class OffsetIndex
  location: class KafkaIndexCheck
Note: Some input files use unchecked or unsafe operations.
1 error'
: >"$sample"
expect 0
{
  echo "kafka_state_files::producer_snapshots_read_by_kafka: KafkaStateFiles.java does not compile against Kafka 4.1.0 (javac exit status: 1):"
  printf '%s\n' "$javac_errors" | sed 's/^/    /'
  echo "broker_to_strata::handover::a_strata_topic_handed_to_a_stopped_broker: no Kafka jars in /w/target/kafka-lib"
} >>"$sample"
expect 2
# The same reason from the first column, as an older skip() wrote it: javac's lines still do not count.
{
  echo "index::kafka_reads_the_indexes: KafkaIndexCheck.java does not compile against Kafka 4.1.0 (javac exit status: 1):"
  printf '%s\n' "$javac_errors"
} >>"$sample"
expect 3
echo "skip_count: ok (0, 2 and 3 skips counted, javac's lines not)"
