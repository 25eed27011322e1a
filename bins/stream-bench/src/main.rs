//! `stream-bench`: the ForgeSyte Stream load generator. Everything but argument parsing lives in the library.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = stream_bench::Args::parse();
    ExitCode::from(stream_bench::cli_main(args, &mut std::io::stdout().lock(), &mut std::io::stderr().lock()))
}
