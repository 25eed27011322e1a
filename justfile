# ForgeSyte Stream contributor workflow. `just test` runs exactly what CI runs (`.ci/run` calls it).

set shell := ["bash", "-euo", "pipefail", "-c"]

# List the recipes.
default:
    @just --list

# Everything CI checks: formatting, lints, tests, docs, dependency policy.
test: fmt-check clippy test-rust doc deny

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

# Start the server with the web UI (lands with the stream-server crate; see README).
run:
    @echo "stream-server is not built yet: the server and its web UI arrive with the stream-server crate." >&2
    @exit 1
