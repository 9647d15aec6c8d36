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

# delete_topics BOOTSTRAP TOPIC...: one TopicCommand for all of them (--topic takes a regex).
delete_topics() {
  local bootstrap=$1
  shift
  [[ $# -gt 0 ]] || return 0
  local IFS='|'
  kafka_topics "$bootstrap" --delete --if-exists --topic "^($*)\$" >/dev/null 2>&1 || true
}

now() { date +%s.%N; }

# rss_mb FILE: /usr/bin/time's %M (KB) as MB (its last line: a killed process adds a line
# "Command terminated by signal 15" before it).
rss_mb() { tail -n 1 "$1" | awk '{ printf "%.0f", $1 / 1024 }'; }

# bench_helpers DIR: writes the helper programs into DIR (BENCH_HELPERS): the end-offset poller
# and the RSS sampler.
bench_helpers() {
  BENCH_HELPERS=$1
  # The end-offset poller: a dependency-free Kafka client (ListOffsets v1, which Kafka 3.9 and
  # 4.x both accept), one connection, a request every 0.2 s. Prints "first EPOCH COUNT" when
  # the first records arrive and "done EPOCH" when the partitions hold COUNT records (with
  # COUNT 0 it ends at the first records: the end is the mirror's own exit).
  cat >"$BENCH_HELPERS/poll_offsets.py" <<'PY'
import socket, struct, sys, time

address, topic, partitions, want, timeout = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
host, port = address.rsplit(":", 1)

def string(text):
    data = text.encode()
    return struct.pack(">h", len(data)) + data

def read_exact(sock, size):
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("the broker closed the connection")
        data += chunk
    return data

def end_offsets(sock, correlation):
    body = struct.pack(">i", -1) + struct.pack(">i", 1) + string(topic) + struct.pack(">i", partitions)
    for partition in range(partitions):
        body += struct.pack(">iq", partition, -1)
    message = struct.pack(">hhi", 2, 1, correlation) + string("cutover-bench") + body
    sock.sendall(struct.pack(">i", len(message)) + message)
    (size,) = struct.unpack(">i", read_exact(sock, 4))
    data = read_exact(sock, size)
    position, total = 4, 0
    (topics,) = struct.unpack_from(">i", data, position)
    position += 4
    for _ in range(topics):
        (length,) = struct.unpack_from(">h", data, position)
        position += 2 + length
        (count,) = struct.unpack_from(">i", data, position)
        position += 4
        for _ in range(count):
            _, error, _, offset = struct.unpack_from(">ihqq", data, position)
            position += 22
            if error in (3, 6):  # the topic or its leader is not there yet
                offset = 0
            elif error:
                raise RuntimeError(f"ListOffsets error {error}")
            total += offset
    return total

sock = socket.create_connection((host, int(port)), timeout=10)
deadline = time.time() + timeout
correlation, first = 0, False
while True:
    correlation += 1
    total = end_offsets(sock, correlation)
    now = time.time()
    if total > 0 and not first:
        first = True
        print(f"first {now:.3f} {total}", flush=True)
        if want == 0:
            break
    if want > 0 and total >= want:
        print(f"done {now:.3f}", flush=True)
        break
    if now > deadline:
        print(f"timeout {now:.3f} {total}", flush=True)
        sys.exit(1)
    time.sleep(0.2)
PY
  # The RSS sampler: the process tree under a pid (refreshed every 0.5 s), each process's
  # VmHWM (the kernel's peak resident set) every 0.2 s, until the root exits. Writes
  # "pid peak_kb label" per process; shells and wrappers are left out.
  cat >"$BENCH_HELPERS/rss_watch.py" <<'PY'
import os, sys, time

root, out = int(sys.argv[1]), sys.argv[2]
peaks, labels = {}, {}

def children():
    by_parent = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    parent = int(f.read().rsplit(")", 1)[1].split()[1])
                by_parent.setdefault(parent, []).append(int(entry))
            except (OSError, IndexError, ValueError):
                pass
    tree, index = [root], 0
    while index < len(tree):
        tree += by_parent.get(tree[index], [])
        index += 1
    return tree

def label(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            args = [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return None
    if not args:
        return None
    name = os.path.basename(args[0])
    if name in ("bash", "sh", "time", "flock", "timeout"):
        return None
    if name == "java":
        rest = iter(args[1:])
        for arg in rest:
            if arg in ("-cp", "-classpath"):
                next(rest, None)
            elif not arg.startswith("-"):
                return "java:" + arg.rsplit(".", 1)[-1]
        return "java"
    if name.startswith("cutover") and name != "cutover-probe" and len(args) > 1:
        return "cutover-" + ("-".join(args[1:3]) if args[1] == "mirror" else args[1])
    return name

def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False

tree, refreshed = [], 0.0
while alive(root):
    if time.time() - refreshed > 0.5:
        tree, refreshed = children(), time.time()
    for pid in tree:
        if pid not in labels:
            labels[pid] = label(pid)
        if labels[pid] is None:
            continue
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        peaks[pid] = max(peaks.get(pid, 0), int(line.split()[1]))
                        break
        except OSError:
            pass
    time.sleep(0.2)
with open(out, "w") as f:
    for pid, peak in sorted(peaks.items()):
        f.write(f"{pid} {peak} {labels[pid]}\n")
PY
}

# poll_start BOOTSTRAP TOPIC PARTITIONS COUNT TIMEOUT: the poller in the background, its
# output in $BENCH_HELPERS/poll, its pid in POLL_PID.
poll_start() {
  python3 "$BENCH_HELPERS/poll_offsets.py" "$@" >"$BENCH_HELPERS/poll" 2>&1 &
  POLL_PID=$!
}

# poll_first FALLBACK: when the poller saw the first records (FALLBACK if it saw none, e.g. a
# copy faster than one poll).
poll_first() {
  awk -v fallback="$1" '/^first/ { first = $2 } END { print (first ? first : fallback) }' "$BENCH_HELPERS/poll"
}

# poll_done: when the poller saw every record.
poll_done() { awk '/^done/ { print $2 }' "$BENCH_HELPERS/poll"; }

# rss_watch_pid PID FILE: samples PID's process tree until PID exits (run it in the background).
rss_watch_pid() { python3 "$BENCH_HELPERS/rss_watch.py" "$1" "$2"; }

# watch_rss FILE COMMAND...: runs COMMAND with its process tree's peak RSS sampled into FILE.
watch_rss() {
  local file=$1 status=0
  shift
  "$@" &
  local pid=$!
  rss_watch_pid "$pid" "$file" &
  local watcher=$!
  wait "$pid" || status=$?
  wait "$watcher" || true
  return "$status"
}

# rss_max FILE: the largest peak in a sampler's file, in MB.
rss_max() { awk '{ if ($2 > m) m = $2 } END { printf "%.0f", m / 1024 }' "$1" 2>/dev/null || echo 0; }

# rss_detail FILE: "label:pid=MB ..." for every process in a sampler's file.
rss_detail() { awk '{ printf "%s%s:%s=%.0f", (NR > 1 ? " " : ""), $3, $1, $2 / 1024 }' "$1" 2>/dev/null || true; }
