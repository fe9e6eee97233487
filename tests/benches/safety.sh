#!/usr/bin/env bash
# Issue 14's limits, measured on the built binary (README "Safe under hostile input"):
#   1. `lab check` against a server that sends an endless body: peak RSS (/usr/bin/time).
#   2. A 40,000-deep YAML lab file: how long `lab validate` takes to refuse it.
#   3. 1,000 concurrent pairs of `lab answer` on one environment: answers lost.
# Usage: bash tests/benches/safety.sh [path/to/lab]   (default target/release/lab)
# Needs python3 (the endless server) and GNU time. No Docker.
set -euo pipefail
LAB=$(realpath "${1:-target/release/lab}")
TMP=$(mktemp -d)
trap 'kill $SRV 2>/dev/null || true; rm -rf "$TMP"' EXIT

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
