#!/usr/bin/env bash
# Instructions per request, counted by callgrind: the numbers that settle
# close calls on these noisy shared cores, where req/s moves with load.
#
# Runs the release strata under `valgrind --tool=callgrind` twice, once with
# the measured components fresh and once warm (the default manifest plus the
# echo test component, the dashboard served from L1, the bundled simulator
# upstream), warms each route up, zeroes the counters, sends N keep-alive
# requests with one curl, and divides the instructions by N. The instance
# pool is small (4 slots, 2 requests at once) because valgrind cannot
# reserve the address space of a full one.
#
#   bash scripts/instructions.sh            # N=2000
#   N=500 bash scripts/instructions.sh
#   KEEP=target/callgrind bash scripts/instructions.sh   # keep the dumps for callgrind_annotate
#   CPU=1 N=20000 bash scripts/instructions.sh           # no valgrind: the server's CPU time
#                                                        # (user + kernel) per request instead
#
# Callgrind sees user space only; what a change costs in the kernel (page
# faults after a memory reset, say) shows in the CPU mode, which reads the
# server's own utime + stime from /proc, so the client's share of the two
# cores does not count, at the default pool size.
#
# Needs valgrind (Debian package `valgrind`) and the release build
# (`cargo test --workspace --release --no-run` builds both the host and the
# test components).
set -euo pipefail
cd "$(dirname "$0")/.."

N=${N:-2000}
BIN=target/release/strata
ECHO=$(ls target/release/build/test-programs-*/out/echo-v1.wasm 2>/dev/null | head -n1 || true)
CPU=${CPU:-}
tools="curl"
[ -z "$CPU" ] && tools="valgrind callgrind_control curl"
for tool in $tools; do
    command -v "$tool" >/dev/null || { echo "instructions.sh: $tool not found" >&2; exit 1; }
done
[ -x "$BIN" ] && [ -n "$ECHO" ] || {
    echo "instructions.sh: build first: cargo test --workspace --release --no-run" >&2
    exit 1
}

work=$(mktemp -d)
mkdir -p target/bench/compile-cache
trap '[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
pid=

# The default manifest plus echo at /hello; `instances = "warm"` on the
# dashboard and echo when $1 is warm.
manifest() {
    local mode=$1 out=$work/$1.toml warm=""
    [ "$mode" = warm ] && warm='instances = "warm"'
    sed "s|^source = \"builtin:dashboard\"$|source = \"builtin:dashboard\"\n$warm|" \
        host/src/config/default-manifest.toml > "$out"
    printf '\n[components.echo]\nsource = "%s"\n%s\n\n[[routes]]\npath = "/hello"\ncomponent = "echo"\n' \
        "$(realpath "$ECHO")" "$warm" >> "$out"
    echo "$out"
}

# N requests on one connection: curl reuses it for every URL it is given.
requests() {
    local url=$1 count=$2 config=$work/urls
    : > "$config"
    for _ in $(seq "$count"); do echo "url = \"$url\"" >> "$config"; echo "output = /dev/null" >> "$config"; done
    curl -s -K "$config"
}

# utime + stime of `pid`, in clock ticks.
cpu_ticks() {
    awk '{print $14 + $15}' "/proc/$1/stat"
}

measure() {
    local mode=$1 port=18480 admin=18481
    local out=$work/callgrind.$mode
    if curl -s "http://127.0.0.1:$port/health" >/dev/null 2>&1; then
        echo "instructions.sh: something already listens on port $port" >&2
        exit 1
    fi
    local wrap=(valgrind --tool=callgrind "--callgrind-out-file=$out.%p")
    local pool=(STRATA_MAX_INSTANCES=4 STRATA_MAX_CONCURRENT_REQUESTS=2)
    if [ -n "$CPU" ]; then
        wrap=()
        pool=()
    fi
    env -u REDIS_URL -u REDIS_CLUSTER_URLS -u DATABASE_URL -u STRATA_ADMIN_TOKEN \
        STRATA_MANIFEST="$(manifest "$mode")" STRATA_LISTEN=127.0.0.1:$port \
        STRATA_ADMIN_LISTEN=127.0.0.1:$admin "${pool[@]}" \
        STRATA_SQLITE_PATH="$work/$mode.db" STRATA_COMPILE_CACHE_DIR="$PWD/target/bench/compile-cache" \
        STRATA_LOG=warn \
        "${wrap[@]}" "$BIN" --simulate-upstream > "$work/$mode.log" 2>&1 &
    pid=$!
    # Under valgrind, start-up (and compiling the components, the first
    # time) takes minutes.
    local up=
    for _ in $(seq 1200); do
        curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1 && { up=1; break; }
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.5
    done
    if [ -z "$up" ]; then
        echo "instructions.sh: strata ($mode) did not start:" >&2
        grep -v '^==' "$work/$mode.log" | tail -n 20 >&2
        exit 1
    fi
    for path in /hello /api/crypto/dashboard-summary; do
        local url="http://127.0.0.1:$port$path"
        requests "$url" 200
        if [ -n "$CPU" ]; then
            local before after
            before=$(cpu_ticks "$pid")
            requests "$url" "$N"
            after=$(cpu_ticks "$pid")
            printf '%-6s %-32s %10.1f µs CPU/request\n' "$mode" "$path" \
                "$(echo "($after - $before) * 1000000 / $(getconf CLK_TCK) / $N" | bc -l)"
            continue
        fi
        callgrind_control -z "$pid" >/dev/null 2>&1
        requests "$url" "$N"
        callgrind_control -d "$pid" >/dev/null
        # The dump is written when valgrind next looks at its commands.
        local dump=
        for _ in $(seq 120); do
            dump=$(ls -t "$out".*.* 2>/dev/null | head -n1 || true)
            [ -n "$dump" ] && grep -q '^totals:' "$dump" && break
            sleep 0.5
        done
        local total
        total=$(awk '/^(summary|totals):/ {print $2; exit}' "$dump")
        printf '%-6s %-32s %10.1fk instructions/request\n' "$mode" "$path" \
            "$(echo "$total / $N / 1000" | bc -l)"
        if [ -n "${KEEP:-}" ]; then
            mkdir -p "$KEEP"
            mv "$dump" "$KEEP/$mode$(echo "$path" | tr / _).callgrind"
        else
            rm -f "$dump"
        fi
    done
    kill -9 "$pid"
    wait "$pid" 2>/dev/null || true
    pid=
}

measure fresh
measure warm
