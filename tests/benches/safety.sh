#!/usr/bin/env bash
# Issue 14's limits, measured on the built binary (README "Safe under hostile input"):
#   1. `lab check` against a server that sends an endless body: peak RSS (/usr/bin/time).
#   2. A 40,000-deep YAML lab file: how long `lab validate` takes to refuse it.
#   3. 1,000 concurrent pairs of `lab answer` on one environment: answers lost.
#   4. Deadlines and timeouts, parsing included: `lab grade --deadline 5s` and a check's
#      `timeout: 2s` against a silent server, a server sending an endless body, and a
#      trainee's 8 MB YAML file nested 120 deep (read with `max_body: 16MiB`, so it is
#      parsed, not refused): wall time of the whole process against the limit.
# Usage: bash tests/benches/safety.sh [path/to/lab]   (default target/release/lab)
# Needs python3 (the endless server) and GNU time. No Docker.
set -euo pipefail
LAB=$(realpath "${1:-target/release/lab}")
TMP=$(mktemp -d)
SRV=""; SILENT=""
trap 'kill $SRV $SILENT 2>/dev/null || true; rm -rf "$TMP"' EXIT

# 1. An endless body: HTTP 200, then 64 KiB blocks for as long as anyone reads.
cat > "$TMP/endless.py" <<'EOF'
import socket, threading
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 0)); s.listen(16); print(s.getsockname()[1], flush=True)
def serve(c):
    try:
        c.recv(65536)
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n")
        block = b"x" * 65536
        while True:
            c.sendall(block)
    except OSError:
        pass
while True:
    c, _ = s.accept(); threading.Thread(target=serve, args=(c,), daemon=True).start()
EOF
python3 "$TMP/endless.py" > "$TMP/port" & SRV=$!
for _ in $(seq 50); do [ -s "$TMP/port" ] && break; sleep 0.1; done
PORT=$(cat "$TMP/port")
mkdir -p "$TMP/labs/01-endless" "$TMP/ws"
printf '# Endless\n' > "$TMP/labs/01-endless/README.md"
cat > "$TMP/labs/01-endless/lab.yaml" <<EOF
number: 1
slug: endless
title: Endless
summary: A server that never stops sending.
exercises:
  - id: e
    title: E
    checks:
      - id: body
        description: The body holds up
        kind: http
        url: "{prometheus}/metrics"
        status: 200
        body: "up"
        timeout: 30s
EOF
/usr/bin/time -f "%M %e" -o "$TMP/time" "$LAB" --labs-dir "$TMP/labs" check 1 \
    --workspace "$TMP/ws" --prometheus-url "http://127.0.0.1:$PORT" > "$TMP/out" 2>&1 || true
read -r RSS SECS < <(tail -1 "$TMP/time")
echo "endless body: peak RSS $((RSS / 1024)) MB, $SECS s; $(grep -o 'larger than [0-9]* MiB' "$TMP/out" | head -1)"

# 2. A 40,000-deep lab file.
mkdir -p "$TMP/deep/01-deep"
printf '# Deep\n' > "$TMP/deep/01-deep/README.md"
python3 -c "print('number: 1\nslug: deep\ntitle: t\nsummary: s\nexercises: ' + '['*40000 + ']'*40000)" \
    > "$TMP/deep/01-deep/lab.yaml"
/usr/bin/time -f "%e %M" -o "$TMP/time" "$LAB" validate "$TMP/deep" > "$TMP/out" 2>&1 || true
read -r SECS RSS < <(tail -1 "$TMP/time")
echo "40,000-deep YAML: refused in $SECS s (peak RSS $((RSS / 1024)) MB): $(grep -o 'nested more than [0-9]* levels' "$TMP/out" | head -1)"

# 3. 1,000 concurrent pairs of `lab answer` (2,000 processes, 64 at a time).
mkdir -p "$TMP/env/.lab"
printf 'services:\n  api:\n    image: x\n' > "$TMP/env/docker-compose.yaml"
cat > "$TMP/env/.lab/state.json" <<'EOF'
{"schema_version": 1, "project": "bench", "compose_files": ["docker-compose.yaml"],
 "endpoints": {"anchore_url": "http://127.0.0.1:9", "anchore_user": "admin",
  "prometheus_url": "http://127.0.0.1:9", "grafana_url": "http://127.0.0.1:9", "grafana_user": "admin"}}
EOF
mkdir -p "$TMP/qlabs/01-q"
printf '# Q\n' > "$TMP/qlabs/01-q/README.md"
{
  printf 'number: 1\nslug: q\ntitle: Q\nsummary: Questions.\nexercises:\n  - id: e\n    title: E\n    questions:\n'
  for i in $(seq 0 1999); do printf '      - id: q%d\n        prompt: Q%d?\n' "$i" "$i"; done
  printf '    checks:\n      - id: c\n        description: C\n        kind: answer\n        question: q0\n        expect: {type: free_text}\n'
} > "$TMP/qlabs/01-q/lab.yaml"
start=$(date +%s.%N)
seq 0 1999 | xargs -P 64 -I{} "$LAB" --labs-dir "$TMP/qlabs" -q answer 1 q{} "a{}" --workspace "$TMP/env"
end=$(date +%s.%N)
KEPT=$(python3 -c "import json,sys; print(len(json.load(open(sys.argv[1]))))" "$TMP/env/.lab/answers.json")
echo "1,000 concurrent answer pairs: $KEPT of 2000 answers kept, $((2000 - KEPT)) lost, $(python3 -c "print(round($end - $start, 1))") s"

# 4. Deadlines and timeouts. A silent server: accepts, reads, never answers.
cat > "$TMP/silent.py" <<'PY'
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 0)); s.listen(16); print(s.getsockname()[1], flush=True)
held = []
while True:
    c, _ = s.accept(); held.append(c)
PY
python3 "$TMP/silent.py" > "$TMP/sport" & SILENT=$!
for _ in $(seq 50); do [ -s "$TMP/sport" ] && break; sleep 0.1; done
SPORT=$(cat "$TMP/sport")
# 8 MB of YAML, each line a flow mapping nested 120 deep (the limit is 128).
mkdir -p "$TMP/work"
python3 -c '
import sys
line = "{a: " * 120 + "1" + "}" * 120
n = i = 0
with open(sys.argv[1], "w") as f:
    while n < 8_000_000:
        l = f"k{i}: {line}\n"; f.write(l); n += len(l); i += 1
' "$TMP/work/deep.yaml"
mkdir -p "$TMP/dl/01-deadline"
printf '# Deadline\n' > "$TMP/dl/01-deadline/README.md"
dl_check() { # $1: http|file, $2: the check's timeout
  if [ "$1" = http ]; then
    printf '      - id: metrics\n        description: The metrics answer\n        kind: http\n        url: "{prometheus}/metrics"\n        status: 200\n        body: "up"\n        timeout: %s\n' "$2"
  else
    printf '      - id: config\n        description: The file holds k1\n        kind: file\n        path: deep.yaml\n        yaml: {path: k1, equals: 2}\n        max_body: 16MiB\n        timeout: %s\n' "$2"
  fi
}
dl_run() { # $1: label, $2: limit in s, $3: server URL, $4: http|file, $5: timeout, then the command
  local label=$1 limit=$2 url=$3 kind=$4 timeout=$5
  shift 5
  { printf 'number: 1\nslug: deadline\ntitle: Deadline\nsummary: Limits.\nexercises:\n  - id: e\n    title: E\n    checks:\n'
    dl_check "$kind" "$timeout"; } > "$TMP/dl/01-deadline/lab.yaml"
  printf 'trainees:\n  - name: t\n    project: p\n    workdir: %s\n    prometheus: {url: "%s"}\n' \
    "$TMP/work" "$url" > "$TMP/roster.yaml"
  /usr/bin/time -f "%e %M" -o "$TMP/time" "$@" > "$TMP/out" 2>&1 || true
  read -r SECS RSS < <(tail -1 "$TMP/time")
  echo "$label: $SECS s for a $limit s limit ($(python3 -c "print(f'{($SECS / $limit - 1) * 100:+.0f} %')")), peak RSS $((RSS / 1024)) MB"
}
GRADE=("$LAB" --labs-dir "$TMP/dl" grade 1 --roster "$TMP/roster.yaml" --deadline 5s --probe-timeout 60s)
CHECK=("$LAB" --labs-dir "$TMP/dl" check 1 --workspace "$TMP/work")
dl_run "grade --deadline 5s, silent server" 5 "http://127.0.0.1:$SPORT" http 60s "${GRADE[@]}"
dl_run "grade --deadline 5s, endless body" 5 "http://127.0.0.1:$PORT" http 60s "${GRADE[@]}"
dl_run "grade --deadline 5s, 8 MB YAML 120 deep" 5 "http://127.0.0.1:$PORT" file 60s "${GRADE[@]}"
dl_run "check timeout 2s, silent server" 2 "" http 2s "${CHECK[@]}" --prometheus-url "http://127.0.0.1:$SPORT"
dl_run "check timeout 2s, endless body" 2 "" http 2s "${CHECK[@]}" --prometheus-url "http://127.0.0.1:$PORT"
dl_run "check timeout 2s, 8 MB YAML 120 deep" 2 "" file 2s "${CHECK[@]}"
