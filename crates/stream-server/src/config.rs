//! Server configuration: every setting, from the command line, the environment, a TOML file and the defaults.
//!
//! Sources, highest first (SPEC §6):
//!
//! 1. the command line (`--drop-window 60`),
//! 2. the environment (`STREAM_DROP_WINDOW=60`),
//! 3. a TOML config file named by `--config FILE` or `STREAM_CONFIG`, whose keys are the setting names
//!    (`drop_window = 60`),
//! 4. the defaults, which run on one machine with nothing else installed.
//!
//! [`ServerConfig`] declares each setting once: clap derives its flag, environment variable, `--help` line,
//! default and value check from the field; [`figment`] layers the sources. Every source's text goes through the
//! same clap value parser, so every value given is checked, in every source, even one that a higher source
//! overrides, and a bad value is a [`ConfigError`] naming the setting and where it came from:
//!
//! ```text
//! invalid value "abc" for STREAM_DROP_THRESHOLD (environment): expected a number between 0 and 1
//! ```
//!
//! The environment is injected, never read here: the binary passes `|k| std::env::var(k).ok()`, tests pass a
//! closure over a map.
//!
//! ```
//! use stream_server::config::{Origin, ServerConfig};
//!
//! let env = |key: &str| (key == "STREAM_DROP_WINDOW").then(|| "60".to_owned());
//! let config = ServerConfig::load(["stream-server", "--max-sessions", "4"], env).unwrap();
//! assert_eq!(config.drop_window, 60);
//! assert_eq!(config.max_sessions, 4);
//! assert_eq!(config.origins.get("max_sessions"), Some(Origin::CommandLine));
//! assert_eq!(config.idle_timeout_s, 30);
//! ```

use std::collections::BTreeMap;
use std::error::Error as _;
use std::ffi::OsString;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::parser::ValueSource;
use clap::{ArgAction, CommandFactory, FromArgMatches, Parser, ValueEnum};
use figment::{Figment, Metadata, Profile, Provider, providers::Serialized, value};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use thiserror::Error;
use video_jobs::StoreConfig;

/// Environment variable naming the config file (the `--config` flag wins over it).
pub const CONFIG_ENV: &str = "STREAM_CONFIG";

/// One mebibyte.
const MIB: u64 = 1024 * 1024;

/// Where a setting's value came from. Ordered by precedence: a later variant wins over an earlier one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Origin {
    /// The built-in default (or a value set in code).
    #[default]
    Default,
    /// The config file (`--config` / `STREAM_CONFIG`).
    ConfigFile,
    /// An environment variable.
    Environment,
    /// A command-line flag.
    CommandLine,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Default => "default",
            Self::ConfigFile => "config file",
            Self::Environment => "environment",
            Self::CommandLine => "command line",
        })
    }
}

/// Log output format (`STREAM_LOG_FORMAT`), in any case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One JSON object per line, for machines. The default.
    #[default]
    Json,
    /// Human-readable, multi-line output, for a terminal.
    Pretty,
}

/// Which inference engine runs the models (`STREAM_ENGINE`), in any case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineName {
    /// onnxruntime if its library is found and loads (`onnxruntime_library`, then beside the binary, then
    /// `target/onnxruntime/`), tract otherwise. The default.
    #[default]
    Auto,
    /// tract, pure Rust, in every build.
    Tract,
    /// onnxruntime, loaded from `onnxruntime_library`; a start-up error if it does not load.
    #[value(name = "onnxruntime", alias = "ort")]
    OnnxRuntime,
}

macro_rules! display_value_enum {
    ($($ty:ty),+) => {$(
        impl fmt::Display for $ty {
            /// The spelling accepted in every source (`json`, `onnxruntime`).
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.to_possible_value().as_ref().map_or("", |value| value.get_name()))
            }
        }
    )+};
}
display_value_enum!(LogFormat, EngineName);

/// One setting as `--help`, the docs and [`ServerConfig::describe`] name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    /// Name of the [`ServerConfig`] field, which is also the key in the config file (`drop_window`).
    pub name: String,
    /// Long flag, without the leading `--` (`drop-window`).
    pub flag: String,
    /// Environment variable (`STREAM_DROP_WINDOW`).
    pub env: String,
    /// The default as `--help` shows it (`30`), empty if there is none.
    pub default: String,
    /// The help text.
    pub help: String,
}

/// Every setting, in the order `--help` lists them.
pub fn settings() -> Vec<Setting> {
    let command = ServerConfig::command();
    let text = |value: Option<&clap::builder::StyledStr>| value.map(ToString::to_string).unwrap_or_default();
    (command.get_arguments())
        .filter(|arg| arg.get_id() != "config_file")
        .filter_map(|arg| {
            Some(Setting {
                name: arg.get_id().to_string(),
                flag: arg.get_long()?.to_owned(),
                env: arg.get_env()?.to_str()?.to_owned(),
                default: arg.get_default_values().iter().map(|v| v.to_string_lossy()).collect(),
                help: text(arg.get_help()),
            })
        })
        .collect()
}

/// Where each setting of a [`ServerConfig`] came from, filled in by [`ServerConfig::load`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Origins(BTreeMap<String, Origin>);

impl Origins {
    /// Where the setting named `name` came from: [`Origin::Default`] unless [`ServerConfig::load`] found it in
    /// a source; `None` for a name that is not a setting.
    pub fn get(&self, name: &str) -> Option<Origin> {
        let known = || settings().iter().any(|setting| setting.name == name);
        self.0.get(name).copied().or_else(|| known().then_some(Origin::Default))
    }
}

/// One line of [`ServerConfig::describe`]: a setting, its value and where the value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribedSetting {
    /// The setting's name ([`Setting::name`]).
    pub name: String,
    /// The value, spelled as it would be given on the command line (a database password masked).
    pub value: String,
    /// Where the value came from.
    pub origin: Origin,
}

impl fmt::Display for DescribedSetting {
    /// `name=value (origin)`, e.g. `drop_window=60 (environment)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={} ({})", self.name, self.value, self.origin)
    }
}

/// Why [`ServerConfig::load`] did not produce a configuration: print [`Help`](Self::Help) and
/// [`Version`](Self::Version) to stdout and exit 0; print anything else to stderr after `error: ` and exit 2
/// ([`exit_code`](Self::exit_code)). No message carries that prefix itself, nor a trailing newline.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// `--help` or `-h` was given; the text is the help to print.
    #[error("{0}")]
    Help(String),
    /// `--version` or `-V` was given; the text is the version line to print.
    #[error("{0}")]
    Version(String),
    /// The command line is malformed (an unknown flag, a flag without its value): clap's message and usage.
    #[error("{0}")]
    Usage(String),
    /// A value, from any source, is not acceptable for its setting.
    #[error("invalid value {value:?} for {place}: expected {expected}")]
    Invalid {
        /// The setting ([`Setting::name`]).
        setting: String,
        /// Where it was given: `STREAM_DROP_THRESHOLD (environment)`, `--drop-window (command line)` or
        /// `drop_window in /etc/stream.toml`.
        place: String,
        /// The rejected value.
        value: String,
        /// What the setting accepts, e.g. `a number between 0 and 1`.
        expected: String,
    },
    /// Two settings are individually valid but contradict each other; the message names both values and
    /// where they came from.
    #[error("{message}")]
    Conflict {
        /// The two settings.
        settings: [&'static str; 2],
        /// What is wrong.
        message: String,
    },
    /// The config file names a key that is not a setting; `hint` may suggest one (`; did you mean …?`).
    #[error("unknown key {key:?} in config file {}{hint}", path.display())]
    #[allow(missing_docs)] // The fields are named in the variant's documentation.
    UnknownKey { key: String, path: PathBuf, hint: String },
    /// The config file could not be read; `given_by` is `--config` or `STREAM_CONFIG`.
    #[error("cannot read config file {} (given by {given_by}): {error}", path.display())]
    #[allow(missing_docs)] // The fields are named in the variant's documentation.
    ReadFile {
        path: PathBuf,
        given_by: &'static str,
        #[source]
        error: std::io::Error,
    },
    /// The config file is not valid TOML; the message has the line and column.
    #[error("config file {} is not valid TOML: {message}", path.display())]
    #[allow(missing_docs)] // The fields are named in the variant's documentation.
    ParseFile { path: PathBuf, message: String },
}

impl ConfigError {
    /// 0 for [`Help`](Self::Help) and [`Version`](Self::Version), 2 (a usage error) for everything else.
    pub fn exit_code(&self) -> i32 {
        if self.is_error() { 2 } else { 0 }
    }

    /// Whether this is a real error rather than a request for help or the version.
    pub fn is_error(&self) -> bool {
        !matches!(self, Self::Help(_) | Self::Version(_))
    }
}

/// The complete configuration of the server: one field per setting, whose flag is the field name with `-` for
/// `_`, whose environment variable is `STREAM_` and the name in capitals (`log_level` is `STREAM_LOG`), and
/// whose config file key is the name.
///
/// Build it with [`ServerConfig::load`] at start-up, or in code from [`ServerConfig::default`]
/// (`ServerConfig { max_sessions: 2, ..ServerConfig::default() }`), then pass it down.
#[derive(Debug, Clone, PartialEq, Parser, Serialize, Deserialize)]
#[command(
    name = "stream-server",
    version,
    about = "ForgeSyte Stream: real-time video inference over WebSocket.",
    long_about = None
)]
#[command(
    max_term_width = 110,
    after_help = "Each setting is taken from, highest first: the command line, the \
    environment, the config file, the default. Config file keys are the flag names with '_' for '-' \
    (drop_window = 60)."
)]
pub struct ServerConfig {
    /// TOML file with any of the settings below
    #[arg(long = "config", env = CONFIG_ENV, value_name = "FILE", value_parser = path)]
    #[serde(skip)]
    pub config_file: Option<PathBuf>,
    /// Drop rate (0 to 1) above which a session is reported as in warning
    #[arg(long, env = "STREAM_DROP_THRESHOLD", value_name = "RATE")]
    #[arg(default_value_t = 0.1, value_parser = rate)]
    pub drop_threshold: f64,
    /// Drop rate (0 to 1, at least the drop threshold) above which the client is told to slow down
    #[arg(long, env = "STREAM_SLOWDOWN_THRESHOLD", value_name = "RATE")]
    #[arg(default_value_t = 0.3, value_parser = rate)]
    pub slowdown_threshold: f64,
    /// Largest accepted frame, in MiB
    #[arg(long, env = "STREAM_MAX_FRAME_SIZE_MB", value_name = "MIB")]
    #[arg(default_value_t = 5, value_parser = whole::<u32, 1, { u32::MAX as u64 }>)]
    pub max_frame_size_mb: u32,
    /// Hard limit on concurrent sessions, always enforced: one more is refused with server_busy (16 per core,
    /// at least 32)
    #[arg(long, env = "STREAM_SESSION_LIMIT", value_name = "N")]
    #[arg(default_value_t = (16 * cores()).max(32), value_parser = whole::<usize, 1, MAX>)]
    pub session_limit: usize,
    /// Recommended number of concurrent sessions (reported; enforced only with --enforce-max-sessions)
    #[arg(long, env = "STREAM_MAX_SESSIONS", value_name = "N")]
    #[arg(default_value_t = 10, value_parser = whole::<usize, 1, MAX>)]
    pub max_sessions: usize,
    /// Refuse sessions beyond --max-sessions with server_busy (true/false, 1/0, yes/no; the flag alone means
    /// true)
    #[arg(long, env = "STREAM_ENFORCE_MAX_SESSIONS", value_name = "BOOL")]
    #[arg(default_value_t = false, value_parser = boolean)]
    #[arg(action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub enforce_max_sessions: bool,
    /// Number of most recent frames the drop rate is computed over (1 to 10000)
    #[arg(long, env = "STREAM_DROP_WINDOW", value_name = "FRAMES")]
    #[arg(default_value_t = 30, value_parser = whole::<usize, 1, 10_000>)]
    pub drop_window: usize,
    /// Close a session that sends nothing for this many seconds
    #[arg(long, env = "STREAM_IDLE_TIMEOUT_S", value_name = "SECONDS")]
    #[arg(default_value_t = 30, value_parser = whole::<u64, 1, MAX>)]
    pub idle_timeout_s: u64,
    /// End a session whose client has taken no message for this many seconds (it stopped reading)
    #[arg(long, env = "STREAM_SEND_TIMEOUT_S", value_name = "SECONDS")]
    #[arg(default_value_t = 10, value_parser = whole::<u64, 1, MAX>)]
    pub send_timeout_s: u64,
    /// Memory for partly received frames across all sessions, in MiB; a session that would go over it is
    /// closed with server_busy
    #[arg(long, env = "STREAM_FRAME_BUDGET_MB", value_name = "MIB")]
    #[arg(default_value_t = 128, value_parser = whole::<u64, 1, MAX>)]
    pub frame_budget_mb: u64,
    /// Open TCP connections (HTTP and WebSocket); further ones wait in the listen queue
    #[arg(long, env = "STREAM_MAX_CONNECTIONS", value_name = "N")]
    #[arg(default_value_t = 512, value_parser = whole::<usize, 1, MAX>)]
    pub max_connections: usize,
    /// Close a connection whose request headers (a WebSocket upgrade's included) are not complete this many
    /// seconds after it opened or after its previous response
    #[arg(long, env = "STREAM_HEADER_TIMEOUT_S", value_name = "SECONDS")]
    #[arg(default_value_t = 15, value_parser = whole::<u64, 1, MAX>)]
    pub header_timeout_s: u64,
    /// Abort an upload that sends too little for this many seconds (see --upload-min-rate-kib)
    #[arg(long, env = "STREAM_BODY_TIMEOUT_S", value_name = "SECONDS")]
    #[arg(default_value_t = 30, value_parser = whole::<u64, 1, MAX>)]
    pub body_timeout_s: u64,
    /// Slowest accepted upload, in KiB/s averaged over each --body-timeout-s window (0: only a silent upload
    /// is aborted)
    #[arg(long, env = "STREAM_UPLOAD_MIN_RATE_KIB", value_name = "KIB_PER_S")]
    #[arg(default_value_t = 16, value_parser = whole::<u64, 0, MAX>)]
    pub upload_min_rate_kib: u64,
    /// Browser origins besides the server's own allowed to open the WebSocket and change state (comma-
    /// separated, e.g. http://localhost:5173; * allows any)
    #[arg(long, env = "STREAM_ALLOWED_ORIGINS", value_name = "ORIGINS")]
    #[arg(default_value = "", value_parser = words)]
    pub allowed_origins: ::std::vec::Vec<String>,
    /// Host header names accepted besides localhost, 127.0.0.1 and ::1 when bound to loopback; when set,
    /// enforced on any bind (comma-separated)
    #[arg(long, env = "STREAM_ALLOWED_HOSTS", value_name = "HOSTS", default_value = "", value_parser = words)]
    pub allowed_hosts: ::std::vec::Vec<String>,
    /// Largest accepted width × height of a frame
    #[arg(long, env = "STREAM_MAX_PIXELS", value_name = "PIXELS")]
    #[arg(default_value_t = 40_000_000, value_parser = whole::<u64, 1, MAX>)]
    pub max_pixels: u64,
    /// Listen address; port 0 picks a free port, which the log reports
    #[arg(long, env = "STREAM_BIND", value_name = "ADDR")]
    #[arg(default_value = "127.0.0.1:8080", value_parser = address)]
    pub bind: SocketAddr,
    /// Folder of extra pipeline definitions
    #[arg(long, env = "STREAM_PIPELINES_DIR", value_name = "DIR", value_parser = path)]
    pub pipelines_dir: Option<PathBuf>,
    /// Folder of the model files (the bundled models by default)
    #[arg(long, env = "STREAM_MODELS_DIR", value_name = "DIR")]
    #[arg(default_value = "fixtures/models", value_parser = path)]
    pub models_dir: PathBuf,
    /// Folder of the built web UI, served at /
    #[arg(long, env = "STREAM_WEB_DIR", value_name = "DIR")]
    #[arg(default_value = "web-ui/dist", value_parser = path)]
    pub web_dir: PathBuf,
    /// Folder of the job database and uploads
    #[arg(long, env = "STREAM_DATA_DIR", value_name = "DIR", default_value = "./data", value_parser = path)]
    pub data_dir: PathBuf,
    /// Log format
    #[arg(
        long,
        env = "STREAM_LOG_FORMAT",
        value_name = "FORMAT",
        default_value = "json",
        ignore_case = true
    )]
    pub log_format: LogFormat,
    /// Log filter: a tracing EnvFilter directive such as info or stream_server=debug,info
    #[arg(long, env = "STREAM_LOG", value_name = "FILTER", default_value = "info", value_parser = filter)]
    pub log_level: String,
    /// Concurrent pipeline runs across all sessions (default: the number of cores)
    #[arg(long, env = "STREAM_INFERENCE_THREADS", value_name = "N")]
    #[arg(default_value_t = cores(), value_parser = whole::<usize, 1, MAX>)]
    pub inference_threads: usize,
    /// Threads a model run may use when it is the only one running (1 to 64); runs that overlap another use
    /// one thread each, so one camera gets every core and many cameras one core each (default: the number of
    /// cores)
    #[arg(long, env = "STREAM_MODEL_THREADS", value_name = "N")]
    #[arg(default_value_t = cores().min(64), value_parser = whole::<usize, 1, 64>)]
    pub model_threads: usize,
    /// Inference engine: auto (onnxruntime if its library is found and loads, else tract), tract (pure Rust)
    /// or onnxruntime (a start-up error without its library: see --onnxruntime-library)
    #[arg(long, env = "STREAM_ENGINE", value_name = "ENGINE", default_value = "auto", ignore_case = true)]
    pub engine: EngineName,
    /// The onnxruntime shared library (`just onnxruntime` fetches it from the PyPI wheel into the default
    /// path); with --engine auto, the same file name beside the binary and the default path are tried next
    #[arg(long, env = "STREAM_ONNXRUNTIME_LIBRARY", value_name = "FILE")]
    #[arg(default_value_os_t = default_onnxruntime_library(), value_parser = path)]
    pub onnxruntime_library: PathBuf,
    /// Let onnxruntime's threads spin while waiting for work: a little less latency, idle cores kept busy
    #[arg(long, env = "STREAM_ONNXRUNTIME_SPINNING", value_name = "BOOL")]
    #[arg(default_value_t = false, value_parser = boolean)]
    #[arg(action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub onnxruntime_spinning: bool,
    /// Seconds sessions get to close on SIGINT/SIGTERM
    #[arg(long, env = "STREAM_SHUTDOWN_GRACE_S", value_name = "SECONDS")]
    #[arg(default_value_t = 5, value_parser = whole::<u64, 0, MAX>)]
    pub shutdown_grace_s: u64,
    /// Largest accepted upload, in MiB
    #[arg(long, env = "STREAM_MAX_UPLOAD_MB", value_name = "MIB")]
    #[arg(default_value_t = 500, value_parser = whole::<u64, 1, MAX>)]
    pub max_upload_mb: u64,
    /// Delete finished jobs (results and upload) this many hours after they finished (0: keep them)
    #[arg(long, env = "STREAM_JOB_RETENTION_H", value_name = "HOURS")]
    #[arg(default_value_t = 168, value_parser = whole::<u64, 0, MAX>)]
    pub job_retention_h: u64,
    /// Most MiB of uploads kept on disk: the oldest finished jobs are deleted to make room, and an upload
    /// that does not fit is refused with 507
    #[arg(long, env = "STREAM_MAX_STORAGE_MB", value_name = "MIB")]
    #[arg(default_value_t = 10240, value_parser = whole::<u64, 1, MAX>)]
    pub max_storage_mb: u64,
    /// Background video job workers; each holds at most one inference slot at a time, so this is the share of
    /// --inference-threads jobs can take. 0 turns video jobs off
    #[arg(long, env = "STREAM_JOB_WORKERS", value_name = "N")]
    #[arg(default_value_t = 1, value_parser = whole::<usize, 0, MAX>)]
    pub job_workers: usize,
    /// Where jobs are kept: sqlite (a file in --data-dir, one replica runs jobs) or a postgres:// URL (a
    /// database every replica shares: see docs/operations.md)
    #[arg(long, env = "STREAM_JOB_STORE", value_name = "STORE")]
    #[arg(default_value = "sqlite")]
    #[serde(with = "store_text")]
    pub job_store: StoreConfig,
    /// How long a worker's claim on a job holds without renewal (renewed every third of it): a replica that
    /// dies has its job taken over by another after this long (3 to 3600)
    #[arg(long, env = "STREAM_JOB_LEASE_S", value_name = "SECONDS")]
    #[arg(default_value_t = 30, value_parser = whole::<u64, 3, 3600>)]
    pub job_lease_s: u64,
    /// Where each setting came from (all [`Origin::Default`] unless [`ServerConfig::load`] filled it).
    #[arg(skip)]
    #[serde(skip)]
    pub origins: Origins,
}

impl Default for ServerConfig {
    /// The defaults of every setting, as `--help` shows them.
    fn default() -> Self {
        let matches = parser().get_matches_from(["stream-server"]);
        Self::from_arg_matches(&matches).expect("the defaults are valid settings")
    }
}

impl ServerConfig {
    /// Resolves the configuration from the command line `args` (the first item is the program name, as with
    /// [`std::env::args_os`]), the environment `env` (`|key| std::env::var(key).ok()` in the binary), the
    /// config file they name, and the defaults; then [validates](Self::validate) it.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Help`] and [`ConfigError::Version`] for `--help` and `--version` (exit code 0), and for
    /// anything wrong a [`ConfigError`] naming the setting and the source (exit code 2).
    pub fn load<I, T>(args: I, env: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let (cli, cli_file) = Layer::parse(Origin::CommandLine, args, None)?;
        let (file_path, given_by) = match (cli_file, env(CONFIG_ENV)) {
            (Some(path), _) => (Some(path), "--config"),
            (None, Some(text)) => {
                (Some(path(&text).map_err(|expected| config_env_error(text, expected))?), CONFIG_ENV)
            }
            (None, None) => (None, ""),
        };
        let file = file_path.as_deref().map(|path| Layer::file(path, given_by)).transpose()?;
        let env_args = settings().into_iter().filter_map(|s| Some(format!("--{}={}", s.flag, env(&s.env)?)));
        let (env, _) = Layer::parse(Origin::Environment, program_and(env_args), None)?;
        let mut figment = Figment::from(Layer { origin: Origin::Default, values: to_map(&Self::default()) });
        let mut origins = BTreeMap::new();
        for layer in [file, Some(env), Some(cli)].into_iter().flatten() {
            origins.extend(layer.values.keys().map(|name| (name.clone(), layer.origin)));
            figment = figment.merge(layer);
        }
        let mut config: Self = figment.extract().map_err(|error| ConfigError::Usage(error.to_string()))?;
        config.config_file = file_path;
        config.origins = Origins(origins);
        config.validate()?;
        Ok(config)
    }

    /// The `--help` text, without a trailing newline (the same as [`ConfigError::Help`]).
    pub fn help() -> String {
        // The short form, whole: the engines' and log formats' descriptions are for rustdoc only.
        let help = Self::command().mut_args(|arg| arg.hide_env_values(true)).render_help().to_string();
        help.replace(" (see more with '--help')", "").trim_end().to_owned()
    }

    /// Checks every value with its setting's parser, and that `drop_threshold ≤ slowdown_threshold`.
    /// [`load`](Self::load) calls it; call it on a configuration built in code.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] or [`ConfigError::Conflict`], naming the settings and where they came from.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let values = to_map(self);
        let args = settings()
            .into_iter()
            .filter_map(|s| Some(format!("--{}={}", s.flag, text(values.get(&s.name)?)?)));
        let matches = parser().try_get_matches_from(program_and(args));
        matches.map_err(|error| self.clap_error(error))?;
        if self.drop_threshold > self.slowdown_threshold {
            let settings = ["drop_threshold", "slowdown_threshold"];
            let [drop, slowdown] = settings.map(|name| (shown(name, values.get(name)), self.place(name)));
            let message = format!(
                "drop_threshold must not be greater than slowdown_threshold: {} from {} > {} from {}",
                drop.0, drop.1, slowdown.0, slowdown.1
            );
            return Err(ConfigError::Conflict { settings, message });
        }
        Ok(())
    }

    /// Every setting with its value and origin, in `--help` order, e.g. for a start-up log line.
    pub fn describe(&self) -> Vec<DescribedSetting> {
        let values = to_map(self);
        let origin = |name: &str| self.origins.0.get(name).copied().unwrap_or_default();
        let describe = |s: Setting| DescribedSetting {
            value: shown(&s.name, values.get(&s.name)),
            origin: origin(&s.name),
            name: s.name,
        };
        settings().into_iter().map(describe).collect()
    }

    /// [`describe`](Self::describe) as one line: `drop_threshold=0.1 (default) drop_window=60 (environment) …`.
    pub fn describe_line(&self) -> String {
        self.describe().iter().map(ToString::to_string).collect::<Vec<_>>().join(" ")
    }

    /// Where the value of a setting came from, as error messages spell it.
    fn place(&self, name: &str) -> String {
        let origin = self.origins.0.get(name).copied().unwrap_or_default();
        place(name, origin, self.config_file.as_deref())
    }

    /// A value error from [`validate`](Self::validate), named by where the value came from.
    fn clap_error(&self, error: clap::Error) -> ConfigError {
        value_error(error, |name| self.place(name))
    }

    /// The largest accepted frame in bytes: [`max_frame_size_mb`](Self::max_frame_size_mb) MiB.
    pub fn max_frame_bytes(&self) -> usize {
        usize::try_from(u64::from(self.max_frame_size_mb).saturating_mul(MIB)).unwrap_or(usize::MAX)
    }

    /// The largest accepted upload in bytes: [`max_upload_mb`](Self::max_upload_mb) MiB.
    pub fn max_upload_bytes(&self) -> u64 {
        self.max_upload_mb.saturating_mul(MIB)
    }

    /// How long a session may stay silent: [`idle_timeout_s`](Self::idle_timeout_s) seconds.
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.idle_timeout_s)
    }

    /// How long sessions get to close on shutdown: [`shutdown_grace_s`](Self::shutdown_grace_s) seconds.
    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace_s)
    }

    /// The budget for partly received frames in bytes: [`frame_budget_mb`](Self::frame_budget_mb) MiB.
    pub fn frame_budget_bytes(&self) -> usize {
        usize::try_from(self.frame_budget_mb.saturating_mul(MIB)).unwrap_or(usize::MAX)
    }

    /// The most bytes of uploads kept: [`max_storage_mb`](Self::max_storage_mb) MiB.
    pub fn max_storage_bytes(&self) -> u64 {
        self.max_storage_mb.saturating_mul(MIB)
    }

    /// How long finished jobs are kept; `None` when [`job_retention_h`](Self::job_retention_h) is 0.
    pub fn job_retention(&self) -> Option<Duration> {
        (self.job_retention_h > 0).then(|| Duration::from_secs(self.job_retention_h.saturating_mul(3600)))
    }
}

/// The values one source gives, checked by the settings' clap parsers: a figment provider.
struct Layer {
    origin: Origin,
    values: Map<String, Value>,
}

impl Layer {
    /// Parses `args` (program name first) as coming from `origin`; also returns `--config` if given.
    fn parse<I, T>(
        origin: Origin,
        args: I,
        file: Option<&Path>,
    ) -> Result<(Self, Option<PathBuf>), ConfigError>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let error = |error| value_error(error, |name| place(name, origin, file));
        let matches = parser().try_get_matches_from(args).map_err(error)?;
        let config = ServerConfig::from_arg_matches(&matches).map_err(error)?;
        let mut values = to_map(&config);
        values.retain(|name, _| matches.value_source(name) == Some(ValueSource::CommandLine));
        Ok((Self { origin, values }, config.config_file))
    }

    /// Reads the config file: every key must be a setting, every value is checked as its text.
    fn file(path: &Path, given_by: &'static str) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::ReadFile {
            path: path.to_owned(),
            given_by,
            error,
        })?;
        let table = (text.parse::<toml::Table>())
            .map_err(|error| ConfigError::ParseFile { path: path.to_owned(), message: error.to_string() })?;
        let known = settings();
        let mut args = Vec::with_capacity(table.len());
        for (key, value) in table {
            let Some(setting) = known.iter().find(|s| s.name == key) else {
                return Err(ConfigError::UnknownKey {
                    hint: suggest(&known, &key),
                    key,
                    path: path.to_owned(),
                });
            };
            let Some(text) = toml_text(value) else {
                let (place, value) = (format!("{key} in {}", path.display()), "{...}".to_owned());
                return Err(ConfigError::Invalid {
                    setting: key,
                    place,
                    value,
                    expected: "a value, not a table".into(),
                });
            };
            args.push(format!("--{}={text}", setting.flag));
        }
        Ok(Self::parse(Origin::ConfigFile, program_and(args), Some(path))?.0)
    }
}

impl Provider for Layer {
    fn metadata(&self) -> Metadata {
        Metadata::named(self.origin.to_string())
    }

    fn data(&self) -> Result<value::Map<Profile, value::Dict>, figment::Error> {
        Serialized::defaults(&self.values).data()
    }
}

/// A config file value as text for its setting's parser (an array as a comma-separated list); `None` for a table.
fn toml_text(value: toml::Value) -> Option<String> {
    Some(match value {
        toml::Value::String(text) => text,
        toml::Value::Integer(number) => number.to_string(),
        toml::Value::Float(number) => number.to_string(),
        toml::Value::Boolean(flag) => flag.to_string(),
        toml::Value::Datetime(datetime) => datetime.to_string(),
        toml::Value::Array(items) => items.into_iter().map(toml_text).collect::<Option<Vec<_>>>()?.join(","),
        toml::Value::Table(_) => return None,
    })
}

/// The command line parser, reading no environment: [`ServerConfig::load`] gives it the injected one.
fn parser() -> clap::Command {
    ServerConfig::command().mut_args(|arg| arg.env(None::<&str>))
}

/// `stream-server` followed by `args`.
fn program_and(args: impl IntoIterator<Item = String>) -> impl Iterator<Item = String> {
    std::iter::once("stream-server".to_owned()).chain(args)
}

/// A configuration's settings as JSON values (never fails for a configuration clap parsed from text).
fn to_map(config: &ServerConfig) -> Map<String, Value> {
    match serde_json::to_value(config) {
        Ok(Value::Object(values)) => values,
        _ => Map::new(),
    }
}

/// A value as its setting's parser takes it; `None` for an absent one.
fn text(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(text) => Some(text.clone()),
        Value::Array(items) if items.is_empty() => None,
        Value::Array(items) => Some(items.iter().filter_map(text).collect::<Vec<_>>().join(",")),
        other => Some(other.to_string()),
    }
}

/// A value as the start-up log shows it: `none` when absent, a database password masked.
fn shown(name: &str, value: Option<&Value>) -> String {
    match value.and_then(text) {
        None => "none".to_owned(),
        Some(url) if name == "job_store" => url.parse::<StoreConfig>().map_or(url, |store| store.to_string()),
        Some(text) => text,
    }
}

/// Where a value was given, as error messages spell it.
fn place(name: &str, origin: Origin, file: Option<&Path>) -> String {
    let env = || settings().into_iter().find(|s| s.name == name).map_or_else(|| name.to_owned(), |s| s.env);
    match (origin, file) {
        (Origin::CommandLine, _) => format!("--{} (command line)", name.replace('_', "-")),
        (Origin::Environment, _) => format!("{} (environment)", env()),
        (Origin::ConfigFile, Some(path)) => format!("{name} in {}", path.display()),
        (origin, _) => format!("{name} ({origin})"),
    }
}

/// The error for a `STREAM_CONFIG` that is not a path.
fn config_env_error(value: String, expected: String) -> ConfigError {
    ConfigError::Invalid {
        setting: "config".to_owned(),
        place: format!("{CONFIG_ENV} (environment)"),
        value,
        expected,
    }
}

/// Turns a clap error into a [`ConfigError`]; `place` names where a setting's rejected value came from.
fn value_error(error: clap::Error, place: impl Fn(&str) -> String) -> ConfigError {
    let context = |kind| match error.get(kind) {
        Some(ContextValue::String(text)) => Some(text.clone()),
        Some(ContextValue::Strings(words)) => Some(one_of(words)),
        _ => None,
    };
    let nonempty = |text: &String| !text.is_empty();
    let source = || error.source().map(ToString::to_string);
    let expected = context(ContextKind::ValidValue).filter(nonempty).or_else(source).filter(nonempty);
    match (error.kind(), context(ContextKind::InvalidArg), context(ContextKind::InvalidValue), expected) {
        (ErrorKind::DisplayHelp | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand, ..) => {
            ConfigError::Help(ServerConfig::help())
        }
        (ErrorKind::DisplayVersion, ..) => {
            ConfigError::Version(error.render().to_string().trim_end().to_owned())
        }
        (ErrorKind::ValueValidation | ErrorKind::InvalidValue, Some(arg), Some(value), Some(expected)) => {
            let setting =
                arg.trim_start_matches('-').split([' ', '=']).next().unwrap_or_default().replace('-', "_");
            ConfigError::Invalid { place: place(&setting), setting, value, expected }
        }
        _ => {
            ConfigError::Usage(error.render().to_string().trim_end().trim_start_matches("error: ").to_owned())
        }
    }
}

/// `a, b or c`.
fn one_of(words: &[String]) -> String {
    match words.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

/// A hint for an unknown config file key that is a setting spelled as a flag or an environment variable.
fn suggest(settings: &[Setting], key: &str) -> String {
    let normalized = key.trim_start_matches('-').to_ascii_lowercase().replace('-', "_");
    let found = settings.iter().find(|s| {
        s.name == normalized
            || s.env.eq_ignore_ascii_case(key)
            || normalized.strip_prefix("stream_") == Some(&s.name)
    });
    found.map_or_else(
        || "; the keys are the setting names of --help, e.g. drop_window".to_owned(),
        |setting| format!("; did you mean {:?}?", setting.name),
    )
}

/// Upper bound meaning "none but the type's".
const MAX: u64 = u64::MAX;

/// A whole number of type `T` in `LOW..=HIGH`.
fn whole<T: TryFrom<u64>, const LOW: u64, const HIGH: u64>(text: &str) -> Result<T, String> {
    let number = text.trim().parse::<u64>().ok().filter(|n| (LOW..=HIGH).contains(n));
    number.and_then(|n| T::try_from(n).ok()).ok_or_else(|| match (LOW, HIGH) {
        (0, MAX) => "a whole number".to_owned(),
        (low, MAX) => format!("a whole number of at least {low}"),
        (low, high) => format!("a whole number between {low} and {high}"),
    })
}

/// A rate in `0..=1`.
fn rate(text: &str) -> Result<f64, String> {
    let rate = text.trim().parse::<f64>().ok().filter(|rate| (0.0..=1.0).contains(rate));
    rate.ok_or_else(|| "a number between 0 and 1".to_owned())
}

/// `true`/`false`, `1`/`0`, `yes`/`no`, in any case.
fn boolean(text: &str) -> Result<bool, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err("true or false (or 1/0, yes/no)".to_owned()),
    }
}

/// A socket address (`127.0.0.1:8080`, `[::1]:0`).
fn address(text: &str) -> Result<SocketAddr, String> {
    text.trim().parse().map_err(|_| "an IP address and port such as 127.0.0.1:8080 or [::]:0".to_owned())
}

/// A non-empty path, taken as is (relative paths are relative to the working directory).
fn path(text: &str) -> Result<PathBuf, String> {
    if text.is_empty() { Err("a non-empty path".to_owned()) } else { Ok(PathBuf::from(text)) }
}

/// A log filter directive (`info`, `stream_server=debug,warn`), checked only for being non-empty: the logging
/// set-up parses it.
fn filter(text: &str) -> Result<String, String> {
    let text = text.trim();
    if text.is_empty() { Err("a non-empty log filter such as info".to_owned()) } else { Ok(text.to_owned()) }
}

/// A comma-separated list of words; empty entries are ignored.
fn words(text: &str) -> Result<Vec<String>, String> {
    let words: Vec<String> =
        text.split(',').map(str::trim).filter(|w| !w.is_empty()).map(str::to_owned).collect();
    if words.iter().any(|w| w.contains(char::is_whitespace)) {
        return Err("a comma-separated list of words without spaces".to_owned());
    }
    Ok(words)
}

/// [`StoreConfig`] as its text in the figment layers.
mod store_text {
    use serde::{Deserialize, Deserializer, Serializer};
    use video_jobs::StoreConfig;

    pub(super) fn serialize<S: Serializer>(store: &StoreConfig, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(match store {
            StoreConfig::Sqlite => "sqlite",
            StoreConfig::Postgres(url) => url,
        })
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<StoreConfig, D::Error> {
        String::deserialize(deserializer)?.parse().map_err(serde::de::Error::custom)
    }
}

/// The number of cores, the default of `inference_threads`.
fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

/// Where `just onnxruntime` puts the library, the default of `onnxruntime_library`.
pub(crate) fn default_onnxruntime_library() -> PathBuf {
    PathBuf::from(format!("target/onnxruntime/libonnxruntime.so.{}", pipeline_dag::ONNXRUNTIME_VERSION))
}
