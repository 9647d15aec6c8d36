# Shared by the benchmark scripts (scripts/bench-*): sourced, not run. Expects REPO, LIBS and
# TOOL_HEAP to be set. Kafka's own tools run from the Maven jars scripts/env fetched.

say() { printf 'bench: %s\n' "$*" >&2; }

java_run() {
  java -Xms64m "-Xmx$TOOL_HEAP" -XX:+UseSerialGC "-Dlog4j2.configurationFile=$REPO/env/conf/log4j2.properties" \
    -Dcutover.log.level=WARN -cp "$LIBS/*" "$@"
}

kafka_topics() {
  local bootstrap=$1
  shift
  java_run org.apache.kafka.tools.TopicCommand --bootstrap-server "$bootstrap" "$@"
}

now() { date +%s.%N; }

# rss_mb FILE: /usr/bin/time's %M (KB) as MB (its last line: a killed process adds a line
# "Command terminated by signal 15" before it).
rss_mb() { tail -n 1 "$1" | awk '{ printf "%.0f", $1 / 1024 }'; }
