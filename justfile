# ForgeSyte Stream contributor workflow. `just test` runs exactly what CI runs (`.ci/run` calls it).

set shell := ["bash", "-euo", "pipefail", "-c"]

# List the recipes.
default:
    @just --list

# Everything CI checks: formatting, lints, tests, docs, dependency policy, the web UI, and the browser tests.
test: fmt-check clippy test-rust doc deny web-check e2e

# Formatting, checked (run `just fmt` to apply).
fmt-check:
    cargo fmt --all -- --check

# Apply formatting.
fmt:
    cargo fmt --all

# Lints on every target, warnings are errors.
clippy:
    cargo clippy --workspace --all-targets --locked -- -D warnings

# Unit, integration, property and doc tests of every crate.
test-rust:
    cargo test --workspace --locked

# API docs; broken links and missing docs fail.
doc:
    RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked

# Licences, bans and sources (the checks that work offline; see deny.toml).
deny:
    cargo deny --log-level error check licenses bans sources

# Criterion benchmarks of every crate (figures go into docs/performance.md).
bench *ARGS:
    cargo bench --workspace --locked {{ARGS}}

# Fuzz the JPEG header walk (needs cargo-fuzz; uses RUSTC_BOOTSTRAP because only stable Rust is installed).
fuzz SECONDS="60":
    cd crates/frame-validate/fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run validate -- -max_total_time={{SECONDS}}

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

# Start the server with the web UI and the built-in pipelines on http://127.0.0.1:8080 (flags pass through).
# (Builds with --workspace, like the tests, so tract is compiled once: `-p` would resolve features differently.)
run *ARGS: web-build
    cargo build --workspace --locked
    target/debug/stream-server --log-format pretty {{ARGS}}

# The same, fully optimised (what performance figures are measured with).
run-release *ARGS: web-build
    cargo build --release --workspace --locked
    target/release/stream-server --log-format pretty {{ARGS}}

# Load generator against a running server, e.g. `just load --pipeline yolo --sessions 4 --fps 15`.
load *ARGS:
    cargo build --release --workspace --locked
    target/release/stream-bench {{ARGS}}
