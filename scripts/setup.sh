#!/usr/bin/env bash
# One-time machine set-up for building and testing Strata (idempotent):
# the wasm32-wasip2 Rust target, the system tools the tests use (redis-server,
# redis-cli to form test clusters, psql, Node.js and Debian's Chromium for the browser test), the browser
# test's npm packages, and the local Redis and PostgreSQL services if they
# are not running.
set -euo pipefail

say() { printf 'setup: %s\n' "$*"; }

if ! rustup target list --installed | grep -qx wasm32-wasip2; then
    say "installing the wasm32-wasip2 Rust target"
    rustup target add wasm32-wasip2 || {
        echo "setup: error: 'rustup target add wasm32-wasip2' failed; components cannot be built" >&2
        exit 1
    }
fi

missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
command -v redis-cli >/dev/null || missing+=(redis-tools)
command -v psql >/dev/null || missing+=(postgresql-client)
command -v node >/dev/null || missing+=(nodejs npm)
[ -x /usr/bin/chromium ] || missing+=(chromium)
if ((${#missing[@]})); then
    say "installing ${missing[*]}"
    if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
    $sudo apt-get update -qq && $sudo apt-get install -y -qq "${missing[@]}" || {
        echo "setup: error: could not install ${missing[*]} with apt-get" >&2
        exit 1
    }
fi

# playwright-core drives the system Chromium; it never downloads a browser.
here=$(cd "$(dirname "$0")/.." && pwd)
if [ ! -d "$here/tests/browser/node_modules/playwright-core" ]; then
    say "installing the browser test's npm packages"
    (cd "$here/tests/browser" && npm ci --no-audit --no-fund --loglevel=error) || {
        echo "setup: error: 'npm ci' in tests/browser failed" >&2
        exit 1
    }
fi

# The examples' toolchains, each inside its example's folder at the version
# the example pins (the test build compiles the examples with them):
# componentize-py in a virtual environment, componentize-js from npm.
py_example="$here/examples/hello-python"
py_pinned=$(sed -n 's/^componentize-py==//p' "$py_example/requirements.txt")
if [ "$("$py_example/.venv/bin/componentize-py" --version 2>/dev/null)" != "componentize-py $py_pinned" ]; then
    say "installing componentize-py for examples/hello-python"
    python3 -m venv "$py_example/.venv" &&
        "$py_example/.venv/bin/pip" install -q --disable-pip-version-check -r "$py_example/requirements.txt" || {
        echo "setup: error: could not install componentize-py (python3 -m venv, then pip install -r examples/hello-python/requirements.txt)" >&2
        exit 1
    }
fi
js_pinned=$(sed -n 's/.*"@bytecodealliance\/componentize-js": "\(.*\)".*/\1/p' "$here/examples/hello-js/package.json")
if [ "$(sed -n 's/^  "version": "\(.*\)".*/\1/p' "$here/examples/hello-js/node_modules/@bytecodealliance/componentize-js/package.json" 2>/dev/null)" != "$js_pinned" ]; then
    say "installing componentize-js for examples/hello-js"
    (cd "$here/examples/hello-js" && npm ci --no-audit --no-fund --loglevel=error) || {
        echo "setup: error: 'npm ci' in examples/hello-js failed" >&2
        exit 1
    }
fi

# Redis on 127.0.0.1:6379 (end-to-end tests start private servers of their
# own; the shared one is for running the host by hand).
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    say "starting redis-server on 127.0.0.1:6379"
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
        --dir /tmp --logfile /tmp/strata-redis.log
fi

# PostgreSQL on 127.0.0.1:5432 (tests create and drop their own databases).
if ! psql "postgres://postgres@127.0.0.1:5432/test" -qAtc 'select 1' >/dev/null 2>&1; then
    if command -v pg_ctlcluster >/dev/null && ls /etc/postgresql >/dev/null 2>&1; then
        say "starting PostgreSQL"
        pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
    fi
    for _ in $(seq 1 50); do
        psql "postgres://postgres@127.0.0.1:5432/test" -qAtc 'select 1' >/dev/null 2>&1 && break
        sleep 0.2
    done
    psql "postgres://postgres@127.0.0.1:5432/test" -qAtc 'select 1' >/dev/null 2>&1 || {
        echo "setup: error: PostgreSQL is not reachable at 127.0.0.1:5432 (database 'test', user 'postgres')" >&2
        exit 1
    }
fi

say "ready"
