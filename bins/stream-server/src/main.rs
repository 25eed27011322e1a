//! `stream-server`: reads the configuration, sets up logging, loads the pipelines and runs the server.
//! Everything else lives in the `stream-server` and `pipeline-dag` crates.
#![allow(clippy::print_stdout, clippy::print_stderr)] // `--help` and start-up errors go to the terminal.

use std::process::ExitCode;
use std::sync::Arc;

use pipeline_dag::PipelineRegistry;
use stream_server::config::LogFormat;
use stream_server::{Server, ServerConfig, shutdown_signal};
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let config = match ServerConfig::load(std::env::args_os(), |name| std::env::var(name).ok()) {
        Ok(config) => config,
        Err(message) if !message.is_error() => {
            println!("{message}");
            return ExitCode::SUCCESS;
        }
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    init_tracing(&config);
    tracing::info!(settings = %config.describe_line(), "server_config");

    let registry = match PipelineRegistry::load(&config.registry_config()) {
        Ok(registry) => {
            tracing::info!(engine = registry.engine(), reason = registry.engine_choice(), "engine_selected");
            Arc::new(registry)
        }
        Err(error) => {
            tracing::error!(%error, "pipelines_failed");
            eprintln!("error: cannot load the pipelines: {error}");
            return ExitCode::from(2);
        }
    };

    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let server = match Server::bind(&config, registry).await {
            Ok(server) => server,
            Err(error) => {
                tracing::error!(%error, "server_failed");
                eprintln!("error: {error}");
                return ExitCode::FAILURE;
            }
        };
        match server.run(shutdown_signal()).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                tracing::error!(%error, "server_failed");
                ExitCode::FAILURE
            }
        }
    })
}

fn init_tracing(config: &ServerConfig) {
    let filter = EnvFilter::try_new(&config.log_level).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stdout);
    match config.log_format {
        LogFormat::Json => builder.json().with_current_span(false).init(),
        LogFormat::Pretty => builder.init(),
    }
}
