# ForgeSyte Stream contributor workflow. `just test` runs exactly what CI runs (`.ci/run` calls it).

set shell := ["bash", "-euo", "pipefail", "-c"]

# The optional onnxruntime engine's library: pinned version, wheel and checksums (see `just onnxruntime`).
ort_version := "1.31.1"
ort_wheel := "onnxruntime-1.31.1-cp312-cp312-manylinux_2_28_x86_64.whl"
ort_wheel_sha256 := "1f3dea47f2f0e5117c2404cea7d21fd253ae7836a3bf167a501cdfbb2600d536"
ort_library := "target/onnxruntime/libonnxruntime.so." + ort_version
ort_library_sha256 := "fc44112fbe06d7d689c57e11d3862031f64711007e4ee020f8eed5185fd2c1d3"

# List the recipes.
default:
    @just --list

# The onnxruntime engine's tests run too when its library is present (`just onnxruntime`; CI fetches it).

# Everything CI checks: format, lints, tests, docs, dependency policy, web UI, browser tests, onnxruntime.
test: prereqs fmt-check clippy test-rust doc deny web-check e2e test-onnxruntime

# (Seconds, before any build: installs cargo-deny, Chromium and PostgreSQL (as root, with apt-get) and onnxruntime's library
# where it can; otherwise stops with the command to run.)

# Check what `just test` needs.
prereqs:
    #!/usr/bin/env bash
    set -euo pipefail
    missing() { echo "error: just test needs $1; $2" >&2; exit 1; }
    command -v node >/dev/null 2>&1 || missing "Node.js >= 20.19" "install it (with npm) from nodejs.org or your distribution"
    command -v npm >/dev/null 2>&1 || missing "npm" "install it with Node.js"
    if ! cargo deny --version >/dev/null 2>&1; then
        echo "just test: installing cargo-deny (cargo install cargo-deny --locked, ~2-3 minutes)"
        cargo install cargo-deny --locked
    fi
    if ! command -v chromium >/dev/null 2>&1; then
        if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null 2>&1; then
            echo "just test: installing Debian's chromium for the browser tests"
            apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
        else
            missing "Chromium for the browser tests" "run: sudo apt-get install chromium"
        fi
    fi
    if ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null && [[ -z "${STREAM_TEST_PG_BIN:-}" ]]; then
        if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null 2>&1; then
            echo "just test: installing Debian's postgresql for the shared job store's tests"
            apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null
        else
            missing "PostgreSQL for the job store tests (they start their own throw-away cluster)" "run: sudo apt-get install postgresql (or set STREAM_TEST_PG_BIN to the folder of initdb and pg_ctl)"
        fi
    fi
    command -v nasm >/dev/null 2>&1 || echo "just test: note: without nasm (apt-get install nasm) the H.264 decoder builds without its assembly (slower, still correct)"
    just onnxruntime-if-possible

# Formatting, checked (run `just fmt` to apply).
fmt-check:
    cargo fmt --all -- --check

# Apply formatting.
fmt:
    cargo fmt --all

# (The server binary compiles the onnxruntime engine in, so the workspace build lints both engines.)

# Lints on every target, warnings are errors.
clippy:
    cargo clippy --workspace --all-targets --locked -- -D warnings

# Unit, integration, property and doc tests of every crate.
test-rust:
    cargo test --workspace --locked

# API docs; broken links and missing docs fail.
doc:
    RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked

# `--engine auto` (the default) and `--engine onnxruntime` look for the library in target/onnxruntime/.

# Fetch onnxruntime's shared library from the PyPI wheel (pinned version, platform, checksums).
onnxruntime:
    #!/usr/bin/env bash
    set -euo pipefail
    lib={{ort_library}}
    if [[ -f $lib ]] && echo "{{ort_library_sha256}}  $lib" | sha256sum --check --status; then
        echo "$lib"; exit 0
    fi
    tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
    python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 \
        --platform manylinux_2_28_x86_64 --dest "$tmp" onnxruntime=={{ort_version}}
    echo "{{ort_wheel_sha256}}  $tmp/{{ort_wheel}}" | sha256sum --check --quiet
    python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract(sys.argv[2], sys.argv[3])' \
        "$tmp/{{ort_wheel}}" "onnxruntime/capi/libonnxruntime.so.{{ort_version}}" "$tmp"
    mkdir -p "$(dirname "$lib")"
    mv "$tmp/onnxruntime/capi/libonnxruntime.so.{{ort_version}}" "$lib"
    echo "{{ort_library_sha256}}  $lib" | sha256sum --check --quiet
    echo "$lib"

# `just onnxruntime`, but a failure (no network, no pip) only warns: the server then starts on tract.
onnxruntime-if-possible:
    @just onnxruntime >/dev/null 2>&1 || echo "warning: could not fetch onnxruntime's library (run \`just onnxruntime\` to see why); the server will run on tract" >&2

# Skipped (with a note) when the library is absent, so a plain `just test` needs no download; CI requires it.

# The accuracy and server process tests on the onnxruntime engine.
test-onnxruntime:
    #!/usr/bin/env bash
    set -euo pipefail
    if [[ ! -f {{ort_library}} ]]; then
        if [[ "${CI:-}" == true ]]; then echo "CI: {{ort_library}} is missing (run just onnxruntime)" >&2; exit 1; fi
        echo "onnxruntime tests skipped: no {{ort_library}} (run just onnxruntime to fetch it)"; exit 0
    fi
    STREAM_ENGINE=onnxruntime STREAM_ONNXRUNTIME_LIBRARY="$PWD/{{ort_library}}" cargo test --workspace --locked --test models --test ocr --test process

# Licences, bans and sources (the checks that work offline; see deny.toml).
deny:
    cargo deny --log-level error check licenses bans sources

# (CI runs it after `just test`. The LLVM engine needs no llvm-tools component: tarpaulin reads the profiles
# itself. Its own target dir: coverage builds with other flags. The endpoint's run builds the whole server with
# coverage instrumentation, ~12 minutes. Exceptions are listed in CONTRIBUTING.md.)

# Line coverage of the frame validator, backpressure, the session manager and loop, and the WebSocket endpoint.
coverage:
    #!/usr/bin/env bash
    set -euo pipefail
    if ! cargo tarpaulin --version >/dev/null 2>&1; then
        echo "just coverage: installing cargo-tarpaulin (cargo install cargo-tarpaulin --locked, ~5 minutes)"
        cargo install cargo-tarpaulin --locked
    fi
    tarpaulin() { cargo tarpaulin --locked --skip-clean --engine llvm --target-dir target/tarpaulin --out Stdout "$@" 2>&1 | grep -v ' INFO ' | sed -n '/^|| Uncovered Lines:/,$p'; }
    tarpaulin -p backpressure -p frame-validate -p stream-session --fail-under 96.5 \
        --include-files 'crates/backpressure/src/*' 'crates/frame-validate/src/*' 'crates/stream-session/src/*'
    tarpaulin -p stream-server --test websocket --test hostile --test http --fail-under 96 \
        --include-files crates/stream-server/src/ws.rs

# Job throughput of two replicas against one on one PostgreSQL store (A B A B; needs postgresql installed).
bench-replicas:
    cargo test --locked -p stream-server-bin --test replicas -- --ignored --nocapture replica_throughput

# Criterion benchmarks of every crate (figures go into docs/performance.md).
bench *ARGS:
    cargo bench --workspace --locked {{ARGS}}

# Fuzz the JPEG header walk (needs cargo-fuzz; uses RUSTC_BOOTSTRAP because only stable Rust is installed).
fuzz SECONDS="60":
    cd crates/frame-validate/fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run validate -- -max_total_time={{SECONDS}}

# (Seeded with the fixture videos; an allocation over 512 MB counts as a crash.)

# Fuzz the MP4 path of video jobs: box-tree check, demuxer, H.264 decoder (needs cargo-fuzz).
fuzz-mp4 SECONDS="60":
    mkdir -p crates/video-jobs/fuzz/corpus/mp4
    cd crates/video-jobs && RUSTC_BOOTSTRAP=1 cargo fuzz run mp4 fuzz/corpus/mp4 ../../fixtures/video ../../fixtures/video/malformed -- -max_total_time={{SECONDS}} -malloc_limit_mb=512

# Install the web UI's packages exactly as locked.
web-install:
    cd web-ui && npm ci --no-audit --no-fund --loglevel=error

# Web UI: lint, type check, unit tests (Vitest).
web-check: web-install
    cd web-ui && npm run lint && npm run typecheck && npm test

# Build the web UI into web-ui/dist (served by the server at /).
web-build: web-install
    cd web-ui && npm run build

# End-to-end in a real browser: Debian's Chromium with a fake camera, against the real server and models.
e2e: web-build
    cargo build --workspace --locked
    cd web-ui && npm run e2e

# The server on the onnxruntime engine, explicitly (a start-up error without its library), optimised.
run-onnxruntime *ARGS: onnxruntime web-build
    cargo build --release --workspace --locked
    target/release/stream-server --log-format pretty --engine onnxruntime {{ARGS}}

# (Builds with --workspace, like the tests, so tract is compiled once: `-p` would resolve features differently.)

# (`run` fetches onnxruntime's library first, so `engine = auto` serves on it; tract if the fetch fails.)

# Start the server with the web UI and the built-in pipelines on http://127.0.0.1:8080 (flags pass through).
run *ARGS: onnxruntime-if-possible web-build
    cargo build --workspace --locked
    target/debug/stream-server --log-format pretty {{ARGS}}

# The same, fully optimised (what performance figures are measured with).
run-release *ARGS: onnxruntime-if-possible web-build
    cargo build --release --workspace --locked
    target/release/stream-server --log-format pretty {{ARGS}}

# (bench/reference/: FastAPI + uvicorn + onnxruntime, same model and policy; 1 session at 5 FPS and 4 at 15
# FPS, alternated A B A B; options pass through to bench/compare.sh, e.g. `--rounds 3 --duration 30s`.)

# This server against the Python reference server, side by side, with the ratios.
bench-compare *ARGS: onnxruntime-if-possible
    cargo build --release --workspace --locked
    bench/reference/setup.sh
    bench/compare.sh {{ARGS}}

# Load generator against a running server, e.g. `just load --pipeline yolo --sessions 4 --fps 15`.
load *ARGS:
    cargo build --release --workspace --locked
    target/release/stream-bench {{ARGS}}
