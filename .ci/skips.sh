# Sourced by .ci/run (and .ci/skips_test.sh): counting the tests that skipped a cross-check.

# skip_count FILE: how many tests FILE (target/tmp/skipped-checks.txt) lists. tests/common `skip()`
# writes one entry per skip, `binary::test: reason`, from the first column; a reason of several
# lines (javac's errors when a Kafka tool does not compile) goes on in lines it indents. Only an
# entry's first line counts: javac's lines start with a path (`/.../X.java:12: error: ...`), an
# indented source line or caret, or `N errors`, none of them `word::name: `.
skip_count() {
  grep -cE '^[^[:space:]:]*::[^[:space:]]+: ' "$1" || true
}
