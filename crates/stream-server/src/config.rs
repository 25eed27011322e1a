//! Server configuration: every setting, resolved from the command line, the environment, a TOML file and
//! built-in defaults.
//!
//! Sources, highest first (SPEC §6):
//!
//! 1. the command line (`--drop-window 60`),
//! 2. the environment (`STREAM_DROP_WINDOW=60`),
//! 3. a TOML config file named by `--config FILE` or `STREAM_CONFIG`, whose keys are the setting names
//!    (`drop_window = 60`),
//! 4. the defaults, which run on one machine with nothing else installed.
//!
//! Each setting is declared once, in the table at the bottom of this module: its field, type, environment
//! variable, flag, default and help text. [`SETTINGS`], `--help`, the file keys, the parsers and the
//! [`ServerConfig`] fields are all generated from that table, so they cannot drift apart.
//!
//! Every value given is checked, in every source, even one that a higher source overrides, so a typo never
//! lurks unnoticed. A bad value is a [`ConfigError`] naming the setting and where it came from:
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

use std::ffi::OsString;
use std::fmt;
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Arg, ArgAction, ArgMatches, Command, value_parser};
use thiserror::Error;
use video_jobs::StoreConfig;

/// Environment variable naming the config file (the `--config` flag wins over it).
pub const CONFIG_ENV: &str = "STREAM_CONFIG";

/// clap id and flag of the config file argument.
const CONFIG_FLAG: &str = "config";

/// One mebibyte.
const MIB: u64 = 1024 * 1024;

/// Upper bound meaning "no upper bound other than the type's".
const UNBOUNDED: u64 = u64::MAX;

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

/// The description of one setting: how it is spelled in each source, its default and its help text.
///
/// [`SETTINGS`] lists them all, in the order `--help` shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setting {
    /// Name of the [`ServerConfig`] field, which is also the key in the config file (`drop_window`).
    pub name: &'static str,
    /// Environment variable (`STREAM_DROP_WINDOW`).
    pub env: &'static str,
    /// Long flag, without the leading `--` (`drop-window`).
    pub flag: &'static str,
    /// Placeholder of the value in `--help` (`FRAMES`).
    pub value_name: &'static str,
    /// The default as `--help` shows it (`30`).
    pub default: &'static str,
    /// One-line help text, shown by `--help` and in the field's documentation.
    pub help: &'static str,
}

/// Log output format (`STREAM_LOG_FORMAT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum LogFormat {
    /// One JSON object per line, for machines. The default.
    #[default]
    Json,
    /// Human-readable, multi-line output, for a terminal.
    Pretty,
}

impl LogFormat {
    /// The spelling accepted in every source: `json` or `pretty`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Pretty => "pretty",
        }
    }
}

impl fmt::Display for LogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which inference engine runs the models (`STREAM_ENGINE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum EngineName {
    /// onnxruntime if its library is found and loads (`onnxruntime_library`, then beside the binary, then
    /// `target/onnxruntime/`), tract otherwise. The default.
    #[default]
    Auto,
    /// tract, pure Rust, in every build.
    Tract,
    /// onnxruntime, loaded from `onnxruntime_library`; a start-up error if it does not load.
    OnnxRuntime,
}

impl EngineName {
    /// The spelling accepted in every source: `auto`, `tract` or `onnxruntime`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Tract => "tract",
            Self::OnnxRuntime => "onnxruntime",
        }
    }
}

impl fmt::Display for EngineName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where each setting of a [`ServerConfig`] came from, filled in by [`ServerConfig::load`].
///
/// A configuration built in code ([`ServerConfig::default`], struct update syntax) reports
/// [`Origin::Default`] for every setting.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Origins {
    by_setting: [Origin; SETTING_COUNT],
    config_file: Option<PathBuf>,
}

impl Default for Origins {
    fn default() -> Self {
        Self { by_setting: [Origin::Default; SETTING_COUNT], config_file: None }
    }
}

impl Origins {
    /// Where the setting named `name` (a [`Setting::name`]) came from; `None` for an unknown name.
    pub fn get(&self, name: &str) -> Option<Origin> {
        let index = SETTINGS.iter().position(|setting| setting.name == name)?;
        self.by_setting.get(index).copied()
    }

    /// The config file that was read, if any.
    pub fn config_file(&self) -> Option<&Path> {
        self.config_file.as_deref()
    }
}

/// One line of [`ServerConfig::describe`]: a setting, its value and where the value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribedSetting {
    /// The setting's name ([`Setting::name`]).
    pub name: &'static str,
    /// The value, spelled as it would be given on the command line.
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

/// Why [`ServerConfig::load`] did not produce a configuration.
///
/// `--help` and `--version` are not failures but still stop start-up, so they are variants too, told apart by
/// [`ConfigError::exit_code`]: print [`Help`](Self::Help) and [`Version`](Self::Version) to stdout and exit 0;
/// print everything else to stderr (prefixed with `error: `) and exit 2. No message carries that prefix itself,
/// nor a trailing newline.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// `--help` or `-h` was given; the text is the help to print.
    #[error("{0}")]
    Help(String),
    /// `--version` or `-V` was given; the text is the version line to print.
    #[error("{0}")]
    Version(String),
    /// The command line is malformed: an unknown flag, a flag without its value, a flag given twice. The text is
    /// clap's message with the usage line.
    #[error("{0}")]
    Usage(String),
    /// A value, from any source, is not acceptable for its setting.
    #[error("invalid value {value} for {place}: expected {expected}")]
    Invalid {
        /// The setting ([`Setting::name`]).
        setting: &'static str,
        /// Where the value was given, e.g. `STREAM_DROP_THRESHOLD (environment)`, `--drop-window (command
        /// line)` or `drop_window in /etc/stream.toml`.
        place: String,
        /// The rejected value, quoted if it was text.
        value: String,
        /// What the setting accepts, e.g. `a number between 0 and 1`.
        expected: String,
    },
    /// Two settings are individually valid but contradict each other.
    #[error("{message}")]
    Conflict {
        /// The two settings ([`Setting::name`]).
        settings: [&'static str; 2],
        /// What is wrong, with both values and where they came from: `drop_threshold must not be greater than
        /// slowdown_threshold: 0.5 from STREAM_DROP_THRESHOLD (environment) > 0.3 from slowdown_threshold
        /// (default)`.
        message: String,
    },
    /// The config file names a key that is not a setting.
    #[error("unknown key {key:?} in config file {}{hint}", path.display())]
    UnknownKey {
        /// The unknown key.
        key: String,
        /// The config file.
        path: PathBuf,
        /// A suggestion, possibly empty (`; did you mean "drop_window"?`).
        hint: String,
    },
    /// The config file could not be read.
    #[error("cannot read config file {} (given by {given_by}): {error}", path.display())]
    ReadFile {
        /// The config file.
        path: PathBuf,
        /// What named it: `--config` or `STREAM_CONFIG`.
        given_by: &'static str,
        /// The I/O error.
        #[source]
        error: std::io::Error,
    },
    /// The config file is not valid TOML.
    #[error("config file {} is not valid TOML: {message}", path.display())]
    ParseFile {
        /// The config file.
        path: PathBuf,
        /// The parser's message, with line and column.
        message: String,
    },
}

impl ConfigError {
    /// The process exit code for this outcome: 0 for [`Help`](Self::Help) and [`Version`](Self::Version),
    /// 2 (a usage error, as clap uses) for everything else.
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::Help(_) | Self::Version(_) => 0,
            _ => 2,
        }
    }

    /// Whether this is a real error rather than a request for help or the version.
    pub fn is_error(&self) -> bool {
        self.exit_code() != 0
    }
}

/// How the values of one kind of setting are parsed, checked and shown.
trait Kind {
    /// The type of the [`ServerConfig`] field.
    type Value;
    /// Whether the flag may be given without a value (`--enforce-max-sessions` meaning `true`).
    const OPTIONAL_VALUE: bool = false;
    /// Parses text from the command line or the environment; `None` if it is malformed.
    fn parse(text: &str) -> Option<Self::Value>;
    /// Reads a config file value; `None` if it has the wrong type or is malformed.
    fn from_toml(value: &toml::Value) -> Option<Self::Value>;
    /// Whether a well-formed value is in range.
    fn accepts(_value: &Self::Value) -> bool {
        true
    }
    /// What the setting accepts, for error messages: `a number between 0 and 1`.
    fn expected() -> String;
    /// The value spelled as on the command line.
    fn show(value: &Self::Value) -> String;
}

/// A rate in `0..=1` (`f64`).
struct Rate;

impl Kind for Rate {
    type Value = f64;
    fn parse(text: &str) -> Option<f64> {
        text.trim().parse().ok()
    }
    fn from_toml(value: &toml::Value) -> Option<f64> {
        match value {
            toml::Value::Float(rate) => Some(*rate),
            // `drop_threshold = 0` or `= 1` are rates too; other integers are caught by `accepts`.
            toml::Value::Integer(rate) => i32::try_from(*rate).ok().map(f64::from),
            _ => None,
        }
    }
    fn accepts(value: &f64) -> bool {
        (0.0..=1.0).contains(value)
    }
    fn expected() -> String {
        "a number between 0 and 1".to_owned()
    }
    fn show(value: &f64) -> String {
        value.to_string()
    }
}

/// Unsigned integer types a setting can have.
trait Unsigned: Copy + fmt::Display + Sized {
    /// The type's largest value, as a `u64`.
    const MAX: u64;
    /// Converts, if the value fits.
    fn from_u64(value: u64) -> Option<Self>;
    /// Converts, saturating.
    fn to_u64(self) -> u64;
}

macro_rules! unsigned {
    ($($ty:ty),+) => {$(
        impl Unsigned for $ty {
            const MAX: u64 = if (<$ty>::MAX as u128) < (u64::MAX as u128) { <$ty>::MAX as u64 } else { u64::MAX };
            fn from_u64(value: u64) -> Option<Self> {
                Self::try_from(value).ok()
            }
            fn to_u64(self) -> u64 {
                u64::try_from(self).unwrap_or(u64::MAX)
            }
        }
    )+};
}
unsigned!(u32, u64, usize);

/// A whole number of type `T` in `MIN..=MAX` (and within `T`'s range).
struct Int<T, const MIN: u64, const MAX: u64>(PhantomData<T>);

impl<T: Unsigned, const MIN: u64, const MAX: u64> Int<T, MIN, MAX> {
    /// The largest accepted value.
    const HIGHEST: u64 = if MAX < T::MAX { MAX } else { T::MAX };
}

impl<T: Unsigned, const MIN: u64, const MAX: u64> Kind for Int<T, MIN, MAX> {
    type Value = T;
    fn parse(text: &str) -> Option<T> {
        text.trim().parse::<u64>().ok().and_then(T::from_u64)
    }
    fn from_toml(value: &toml::Value) -> Option<T> {
        match value {
            toml::Value::Integer(number) => u64::try_from(*number).ok().and_then(T::from_u64),
            _ => None,
        }
    }
    fn accepts(value: &T) -> bool {
        (MIN..=Self::HIGHEST).contains(&value.to_u64())
    }
    fn expected() -> String {
        match (MIN, Self::HIGHEST) {
            (0, u64::MAX) => "a whole number".to_owned(),
            (min, u64::MAX) => format!("a whole number of at least {min}"),
            (min, max) => format!("a whole number between {min} and {max}"),
        }
    }
    fn show(value: &T) -> String {
        value.to_string()
    }
}

/// A boolean: `true`/`false`, `1`/`0`, `yes`/`no` in any case; a TOML boolean in the file.
struct Bool;

impl Kind for Bool {
    type Value = bool;
    const OPTIONAL_VALUE: bool = true;
    fn parse(text: &str) -> Option<bool> {
        match text.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Some(true),
            "false" | "0" | "no" => Some(false),
            _ => None,
        }
    }
    fn from_toml(value: &toml::Value) -> Option<bool> {
        value.as_bool()
    }
    fn expected() -> String {
        "true or false (or 1/0, yes/no)".to_owned()
    }
    fn show(value: &bool) -> String {
        value.to_string()
    }
}

/// A socket address (`127.0.0.1:8080`, `[::1]:0`).
struct Addr;

impl Kind for Addr {
    type Value = SocketAddr;
    fn parse(text: &str) -> Option<SocketAddr> {
        text.trim().parse().ok()
    }
    fn from_toml(value: &toml::Value) -> Option<SocketAddr> {
        value.as_str().and_then(Self::parse)
    }
    fn expected() -> String {
        "an IP address and port such as 127.0.0.1:8080 or [::]:0".to_owned()
    }
    fn show(value: &SocketAddr) -> String {
        value.to_string()
    }
}

/// A non-empty path, taken as is (relative paths are relative to the working directory).
struct Dir;

impl Kind for Dir {
    type Value = PathBuf;
    fn parse(text: &str) -> Option<PathBuf> {
        Some(PathBuf::from(text))
    }
    fn from_toml(value: &toml::Value) -> Option<PathBuf> {
        value.as_str().and_then(Self::parse)
    }
    fn accepts(value: &PathBuf) -> bool {
        !value.as_os_str().is_empty()
    }
    fn expected() -> String {
        "a non-empty path".to_owned()
    }
    fn show(value: &PathBuf) -> String {
        value.display().to_string()
    }
}

/// An optional [`Dir`]: absent by default, a non-empty path when given.
struct OptionalDir;

impl Kind for OptionalDir {
    type Value = Option<PathBuf>;
    fn parse(text: &str) -> Option<Option<PathBuf>> {
        Dir::parse(text).map(Some)
    }
    fn from_toml(value: &toml::Value) -> Option<Option<PathBuf>> {
        Dir::from_toml(value).map(Some)
    }
    fn accepts(value: &Option<PathBuf>) -> bool {
        value.as_ref().is_none_or(Dir::accepts)
    }
    fn expected() -> String {
        Dir::expected()
    }
    fn show(value: &Option<PathBuf>) -> String {
        value.as_ref().map_or_else(|| "none".to_owned(), Dir::show)
    }
}

/// A [`LogFormat`], in any case.
struct Format;

impl Kind for Format {
    type Value = LogFormat;
    fn parse(text: &str) -> Option<LogFormat> {
        match text.trim().to_ascii_lowercase().as_str() {
            "json" => Some(LogFormat::Json),
            "pretty" => Some(LogFormat::Pretty),
            _ => None,
        }
    }
    fn from_toml(value: &toml::Value) -> Option<LogFormat> {
        value.as_str().and_then(Self::parse)
    }
    fn expected() -> String {
        "json or pretty".to_owned()
    }
    fn show(value: &LogFormat) -> String {
        value.to_string()
    }
}

/// The job store: `sqlite`, or a `postgres://` URL. Shown with any password masked.
struct JobStoreKind;

impl Kind for JobStoreKind {
    type Value = StoreConfig;
    fn parse(text: &str) -> Option<StoreConfig> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("sqlite") {
            Some(StoreConfig::Sqlite)
        } else if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            Some(StoreConfig::Postgres(text.to_owned()))
        } else {
            None
        }
    }
    fn from_toml(value: &toml::Value) -> Option<StoreConfig> {
        value.as_str().and_then(Self::parse)
    }
    fn expected() -> String {
        "sqlite or a postgres:// URL".to_owned()
    }
    fn show(value: &StoreConfig) -> String {
        match value {
            StoreConfig::Sqlite => "sqlite".to_owned(),
            StoreConfig::Postgres(url) => mask_password(url),
        }
    }
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`.
fn mask_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    match rest.split_once('@') {
        Some((user_info, host)) if user_info.contains(':') => {
            let user = user_info.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{host}")
        }
        _ => url.to_owned(),
    }
}

/// An [`EngineName`], in any case.
struct EngineKind;

impl Kind for EngineKind {
    type Value = EngineName;
    fn parse(text: &str) -> Option<EngineName> {
        match text.trim().to_ascii_lowercase().as_str() {
            "auto" => Some(EngineName::Auto),
            "tract" => Some(EngineName::Tract),
            "onnxruntime" | "ort" => Some(EngineName::OnnxRuntime),
            _ => None,
        }
    }
    fn from_toml(value: &toml::Value) -> Option<EngineName> {
        value.as_str().and_then(Self::parse)
    }
    fn expected() -> String {
        "auto, tract or onnxruntime".to_owned()
    }
    fn show(value: &EngineName) -> String {
        value.to_string()
    }
}

/// A log filter directive (`info`, `stream_server=debug,warn`), checked only for being non-empty: the logging
/// set-up parses it.
struct Filter;

impl Kind for Filter {
    type Value = String;
    fn parse(text: &str) -> Option<String> {
        Some(text.trim().to_owned())
    }
    fn from_toml(value: &toml::Value) -> Option<String> {
        value.as_str().and_then(Self::parse)
    }
    fn accepts(value: &String) -> bool {
        !value.trim().is_empty()
    }
    fn expected() -> String {
        "a non-empty log filter such as info or stream_server=debug".to_owned()
    }
    fn show(value: &String) -> String {
        value.clone()
    }
}

/// A list of words (`STREAM_ALLOWED_ORIGINS=http://a.example,http://b.example`): comma-separated on the command
/// line and in the environment, an array of strings in the file. Empty entries are ignored; none is empty.
struct List;

impl Kind for List {
    type Value = Vec<String>;
    fn parse(text: &str) -> Option<Vec<String>> {
        Some(text.split(',').map(str::trim).filter(|w| !w.is_empty()).map(str::to_owned).collect())
    }
    fn from_toml(value: &toml::Value) -> Option<Vec<String>> {
        match value {
            toml::Value::Array(items) => items
                .iter()
                .map(|item| item.as_str().map(|w| w.trim().to_owned()))
                .filter(|w| w.as_deref() != Some(""))
                .collect(),
            toml::Value::String(text) => Self::parse(text),
            _ => None,
        }
    }
    fn accepts(value: &Vec<String>) -> bool {
        value.iter().all(|w| !w.chars().any(char::is_whitespace))
    }
    fn expected() -> String {
        "a comma-separated list of words without spaces".to_owned()
    }
    fn show(value: &Vec<String>) -> String {
        if value.is_empty() { "none".to_owned() } else { value.join(",") }
    }
}

/// Where a value was given, as error messages spell it.
fn place(setting: &Setting, origin: Origin, file: Option<&Path>) -> String {
    match (origin, file) {
        (Origin::CommandLine, _) => format!("--{} (command line)", setting.flag),
        (Origin::Environment, _) => format!("{} (environment)", setting.env),
        (Origin::ConfigFile, Some(path)) => format!("{} in {}", setting.name, path.display()),
        (Origin::ConfigFile, None) => format!("{} (config file)", setting.name),
        (Origin::Default, _) => format!("{} (default)", setting.name),
    }
}

/// The error for a rejected value.
fn invalid<K: Kind>(setting: &Setting, place: String, value: String) -> ConfigError {
    ConfigError::Invalid { setting: setting.name, place, value, expected: K::expected() }
}

/// A config file value as an error message shows it.
fn show_toml(value: &toml::Value) -> String {
    match value {
        toml::Value::String(text) => format!("{text:?}"),
        toml::Value::Integer(number) => number.to_string(),
        toml::Value::Float(number) => number.to_string(),
        toml::Value::Boolean(flag) => flag.to_string(),
        toml::Value::Datetime(datetime) => datetime.to_string(),
        toml::Value::Array(_) => "[...]".to_owned(),
        toml::Value::Table(_) => "{...}".to_owned(),
    }
}

/// The three sources above the defaults.
struct Sources<'a> {
    cli: &'a ArgMatches,
    env: &'a dyn Fn(&str) -> Option<String>,
    file: Option<(&'a Path, &'a toml::Table)>,
}

impl Sources<'_> {
    /// Checks the value of `setting` in every source that gives one, and returns the highest.
    fn lookup<K: Kind>(&self, setting: &Setting) -> Result<Option<(K::Value, Origin)>, ConfigError> {
        let mut found = None;
        if let Some((path, table)) = self.file
            && let Some(raw) = table.get(setting.name)
        {
            let value = K::from_toml(raw).filter(K::accepts).ok_or_else(|| {
                invalid::<K>(setting, place(setting, Origin::ConfigFile, Some(path)), show_toml(raw))
            })?;
            found = Some((value, Origin::ConfigFile));
        }
        if let Some(text) = (self.env)(setting.env) {
            found = Some((Self::from_text::<K>(setting, &text, Origin::Environment)?, Origin::Environment));
        }
        if let Some(raw) = self.cli.get_one::<OsString>(setting.name) {
            let text = raw.to_str().ok_or_else(|| {
                invalid::<K>(setting, place(setting, Origin::CommandLine, None), format!("{raw:?}"))
            })?;
            found = Some((Self::from_text::<K>(setting, text, Origin::CommandLine)?, Origin::CommandLine));
        }
        Ok(found)
    }

    /// Parses and checks text from the command line or the environment.
    fn from_text<K: Kind>(setting: &Setting, text: &str, origin: Origin) -> Result<K::Value, ConfigError> {
        K::parse(text)
            .filter(K::accepts)
            .ok_or_else(|| invalid::<K>(setting, place(setting, origin, None), format!("{text:?}")))
    }
}

/// Reads and parses the config file named by `--config` or `STREAM_CONFIG`, if any.
fn read_config_file(
    cli: &ArgMatches,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<(PathBuf, toml::Table)>, ConfigError> {
    let (path, given_by) = match (cli.get_one::<OsString>(CONFIG_FLAG), env(CONFIG_ENV)) {
        (Some(path), _) => (PathBuf::from(path), "--config"),
        (None, Some(path)) => (PathBuf::from(path), CONFIG_ENV),
        (None, None) => return Ok(None),
    };
    if path.as_os_str().is_empty() {
        return Err(ConfigError::Invalid {
            setting: CONFIG_FLAG,
            place: if given_by == CONFIG_ENV {
                format!("{CONFIG_ENV} (environment)")
            } else {
                "--config (command line)".to_owned()
            },
            value: "\"\"".to_owned(),
            expected: "the path of a TOML file".to_owned(),
        });
    }
    let text = std::fs::read_to_string(&path).map_err(|error| ConfigError::ReadFile {
        path: path.clone(),
        given_by,
        error,
    })?;
    let table = text
        .parse::<toml::Table>()
        .map_err(|error| ConfigError::ParseFile { path: path.clone(), message: error.to_string() })?;
    if let Some(key) = table.keys().find(|key| !SETTINGS.iter().any(|setting| setting.name == *key)) {
        return Err(ConfigError::UnknownKey { key: key.clone(), hint: suggest(key), path });
    }
    Ok(Some((path, table)))
}

/// A hint for an unknown config file key that is a setting spelled as a flag or an environment variable.
fn suggest(key: &str) -> String {
    let normalized = key.trim_start_matches('-').to_ascii_lowercase().replace('-', "_");
    SETTINGS
        .iter()
        .find(|setting| {
            setting.name == normalized
                || setting.env.eq_ignore_ascii_case(key)
                || normalized.strip_prefix("stream_") == Some(setting.name)
        })
        .map_or_else(
            || "; the keys are the setting names of --help, e.g. drop_window".to_owned(),
            |setting| format!("; did you mean {:?}?", setting.name),
        )
}

/// The clap argument of one setting. Values are kept as raw text: [`Sources::lookup`] parses them, so that
/// the messages are the same for every source.
fn setting_arg(setting: &'static Setting, optional_value: bool) -> Arg {
    let arg = Arg::new(setting.name)
        .long(setting.flag)
        .value_name(setting.value_name)
        .value_parser(value_parser!(OsString))
        .action(ArgAction::Set)
        .help(format!("{}\n[env: {}] [default: {}]", setting.help, setting.env, setting.default));
    if optional_value { arg.num_args(0..=1).default_missing_value("true") } else { arg }
}

/// Parses the command line; `--help`, `--version` and malformed command lines become errors.
fn parse_args<I, T>(args: I) -> Result<ArgMatches, ConfigError>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    ServerConfig::command().try_get_matches_from(args).map_err(|error| {
        let rendered = error.render().to_string();
        let text = rendered.trim_end();
        match error.kind() {
            clap::error::ErrorKind::DisplayHelp
            | clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
                ConfigError::Help(text.to_owned())
            }
            clap::error::ErrorKind::DisplayVersion => ConfigError::Version(text.to_owned()),
            _ => ConfigError::Usage(text.strip_prefix("error: ").unwrap_or(text).to_owned()),
        }
    })
}

/// The number of cores, the default of `inference_threads`.
fn available_cores() -> usize {
    std::thread::available_parallelism().map_or(1, NonZeroUsize::get)
}

/// The default hard session limit: 16 per core, at least 32 (docs/operations.md, "Limits and hardening").
fn default_session_limit() -> usize {
    (16 * available_cores()).max(32)
}

/// Where `engine = auto` looks for onnxruntime, in order: the configured library, the same file name beside the
/// binary, then where `just onnxruntime` puts it.
fn onnxruntime_candidates(configured: &Path) -> Vec<PathBuf> {
    let file_name = format!("libonnxruntime.so.{}", pipeline_dag::ONNXRUNTIME_VERSION);
    let mut candidates = vec![configured.to_owned()];
    if let Some(dir) = std::env::current_exe().ok().as_deref().and_then(Path::parent) {
        candidates.push(dir.join(&file_name));
    }
    candidates.push(default_onnxruntime_library());
    let mut seen = std::collections::HashSet::new();
    candidates.retain(|c| seen.insert(c.clone()));
    candidates
}

/// Where `just onnxruntime` puts the library, the default of `onnxruntime_library`.
fn default_onnxruntime_library() -> PathBuf {
    PathBuf::from(format!("target/onnxruntime/libonnxruntime.so.{}", pipeline_dag::ONNXRUNTIME_VERSION))
}

/// Declares the settings: generates [`SETTINGS`], [`ServerConfig`] and everything that walks the settings.
macro_rules! settings {
    ($(
        $name:ident: $ty:ty = $default:expr, kind $kind:ty, env $env:literal, flag $flag:literal,
        value $value_name:literal, shown $shown:literal, help $help:literal;
    )+) => {
        /// Indices into [`SETTINGS`].
        #[allow(non_camel_case_types)]
        #[derive(Clone, Copy)]
        enum Id {
            $($name,)+
        }

        /// Number of settings.
        const SETTING_COUNT: usize = [$(Id::$name),+].len();

        /// Every setting, in the order `--help` lists them.
        pub const SETTINGS: &[Setting] = &[$(
            Setting {
                name: stringify!($name),
                env: $env,
                flag: $flag,
                value_name: $value_name,
                default: $shown,
                help: $help,
            },
        )+];

        /// The complete configuration of the server.
        ///
        /// Build it with [`ServerConfig::load`] at start-up, or in code from [`ServerConfig::default`]
        /// (`ServerConfig { max_sessions: 2, ..ServerConfig::default() }`), then pass it down. See the
        /// [module documentation](self) for the sources and their order.
        #[derive(Debug, Clone, PartialEq)]
        pub struct ServerConfig {
            $(
                #[doc = concat!($help, ".")]
                #[doc = ""]
                #[doc = concat!(
                    "Default `", $shown, "`; flag `--", $flag, "`, environment `", $env,
                    "`, config file key `", stringify!($name), "`."
                )]
                pub $name: $ty,
            )+
            /// Where each setting came from (all [`Origin::Default`] unless [`ServerConfig::load`] filled it).
            pub origins: Origins,
        }

        impl Default for ServerConfig {
            fn default() -> Self {
                Self { $($name: $default,)+ origins: Origins::default() }
            }
        }

        impl ServerConfig {
            /// The clap command: one flag per setting, plus `--config`, `--help` and `--version`.
            fn command() -> Command {
                Command::new("stream-server")
                    .version(env!("CARGO_PKG_VERSION"))
                    .about("ForgeSyte Stream: real-time video inference over WebSocket.")
                    .after_help(
                        "Each setting is taken from, highest first: the command line, the environment, the \
                         config file, the default. Config file keys are the flag names with '_' for '-' \
                         (drop_window = 60).",
                    )
                    .max_term_width(110)
                    .arg(
                        Arg::new(CONFIG_FLAG)
                            .long(CONFIG_FLAG)
                            .value_name("FILE")
                            .value_parser(value_parser!(OsString))
                            .action(ArgAction::Set)
                            .help(format!("TOML file with any of the settings below [env: {CONFIG_ENV}]")),
                    )
                    $(.arg(setting_arg(&SETTINGS[Id::$name as usize], <$kind as Kind>::OPTIONAL_VALUE)))+
            }

            /// Fills in the settings that `sources` give.
            fn resolve(&mut self, sources: &Sources<'_>) -> Result<(), ConfigError> {
                $(
                    let setting = &SETTINGS[Id::$name as usize];
                    if let Some((value, origin)) = sources.lookup::<$kind>(setting)? {
                        self.$name = value;
                        self.origins.by_setting[Id::$name as usize] = origin;
                    }
                )+
                Ok(())
            }

            /// Checks every value against its setting's range.
            fn check_values(&self) -> Result<(), ConfigError> {
                $(
                    if !<$kind as Kind>::accepts(&self.$name) {
                        let setting = &SETTINGS[Id::$name as usize];
                        return Err(invalid::<$kind>(
                            setting,
                            self.place(Id::$name),
                            format!("{:?}", <$kind as Kind>::show(&self.$name)),
                        ));
                    }
                )+
                Ok(())
            }

            /// Every setting with its value and origin, in [`SETTINGS`] order, e.g. for a start-up log line.
            pub fn describe(&self) -> Vec<DescribedSetting> {
                vec![$(
                    DescribedSetting {
                        name: stringify!($name),
                        value: <$kind as Kind>::show(&self.$name),
                        origin: self.origins.by_setting[Id::$name as usize],
                    },
                )+]
            }

            /// The value of one setting, for messages.
            fn show(&self, id: Id) -> String {
                match id {
                    $(Id::$name => <$kind as Kind>::show(&self.$name),)+
                }
            }
        }
    };
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
        let cli = parse_args(args)?;
        let file = read_config_file(&cli, &env)?;
        let sources = Sources {
            cli: &cli,
            env: &env,
            file: file.as_ref().map(|(path, table)| (path.as_path(), table)),
        };
        let mut config = Self::default();
        config.resolve(&sources)?;
        config.origins.config_file = file.map(|(path, _)| path);
        config.validate()?;
        Ok(config)
    }

    /// The `--help` text, without a trailing newline (the same as [`ConfigError::Help`]).
    pub fn help() -> String {
        Self::command().render_help().to_string().trim_end().to_owned()
    }

    /// Checks every value against its setting's range, and that `drop_threshold ≤ slowdown_threshold`.
    /// [`load`](Self::load) calls it; call it on a configuration built in code.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] or [`ConfigError::Conflict`], naming the settings and where they came from.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.check_values()?;
        if self.drop_threshold > self.slowdown_threshold {
            let (drop, slowdown) = (Id::drop_threshold, Id::slowdown_threshold);
            let settings = [SETTINGS[drop as usize].name, SETTINGS[slowdown as usize].name];
            let message = format!(
                "{} must not be greater than {}: {} from {} > {} from {}",
                settings[0],
                settings[1],
                self.show(drop),
                self.place(drop),
                self.show(slowdown),
                self.place(slowdown),
            );
            return Err(ConfigError::Conflict { settings, message });
        }
        Ok(())
    }

    /// Where the value of a setting came from, as error messages spell it.
    fn place(&self, id: Id) -> String {
        let index = id as usize;
        place(&SETTINGS[index], self.origins.by_setting[index], self.origins.config_file())
    }

    /// [`describe`](Self::describe) as one line: `drop_threshold=0.1 (default) drop_window=60 (environment) …`.
    pub fn describe_line(&self) -> String {
        self.describe().iter().map(ToString::to_string).collect::<Vec<_>>().join(" ")
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

    /// The pipelines' loading options from these settings: models and pipelines folders, pixel limit,
    /// engine, threads per model run ([`model_threads`](Self::model_threads)) and concurrent runs
    /// ([`inference_threads`](Self::inference_threads)).
    pub fn registry_config(&self) -> pipeline_dag::RegistryConfig {
        let mut registry = pipeline_dag::RegistryConfig::new(&self.models_dir);
        registry.pipelines_dir.clone_from(&self.pipelines_dir);
        registry.max_pixels = self.max_pixels;
        registry.inference_threads = self.model_threads;
        registry.concurrent_runs = self.inference_threads;
        registry.engine = match self.engine {
            EngineName::Auto => pipeline_dag::Engine::Auto {
                candidates: onnxruntime_candidates(&self.onnxruntime_library),
                spinning: self.onnxruntime_spinning,
            },
            EngineName::Tract => pipeline_dag::Engine::Tract,
            EngineName::OnnxRuntime => {
                let mut ort = pipeline_dag::OnnxRuntimeConfig::new(&self.onnxruntime_library);
                ort.spinning = self.onnxruntime_spinning;
                pipeline_dag::Engine::OnnxRuntime(ort)
            }
        };
        registry
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

settings! {
    drop_threshold: f64 = 0.10, kind Rate,
        env "STREAM_DROP_THRESHOLD", flag "drop-threshold", value "RATE", shown "0.1",
        help "Drop rate (0 to 1) above which a session is reported as in warning";
    slowdown_threshold: f64 = 0.30, kind Rate,
        env "STREAM_SLOWDOWN_THRESHOLD", flag "slowdown-threshold", value "RATE", shown "0.3",
        help "Drop rate (0 to 1, at least the drop threshold) above which the client is told to slow down";
    max_frame_size_mb: u32 = 5, kind Int<u32, 1, UNBOUNDED>,
        env "STREAM_MAX_FRAME_SIZE_MB", flag "max-frame-size-mb", value "MIB", shown "5",
        help "Largest accepted frame, in MiB";
    session_limit: usize = default_session_limit(), kind Int<usize, 1, UNBOUNDED>,
        env "STREAM_SESSION_LIMIT", flag "session-limit", value "N", shown "16 per core, at least 32",
        help "Hard limit on concurrent sessions, always enforced: one more is refused with server_busy";
    max_sessions: usize = 10, kind Int<usize, 1, UNBOUNDED>,
        env "STREAM_MAX_SESSIONS", flag "max-sessions", value "N", shown "10",
        help "Recommended number of concurrent sessions (reported; enforced only with --enforce-max-sessions)";
    enforce_max_sessions: bool = false, kind Bool,
        env "STREAM_ENFORCE_MAX_SESSIONS", flag "enforce-max-sessions", value "BOOL", shown "false",
        help "Refuse sessions beyond --max-sessions with server_busy (true/false, 1/0, yes/no; the flag alone \
              means true)";
    drop_window: usize = 30, kind Int<usize, 1, 10_000>,
        env "STREAM_DROP_WINDOW", flag "drop-window", value "FRAMES", shown "30",
        help "Number of most recent frames the drop rate is computed over (1 to 10000)";
    idle_timeout_s: u64 = 30, kind Int<u64, 1, UNBOUNDED>,
        env "STREAM_IDLE_TIMEOUT_S", flag "idle-timeout-s", value "SECONDS", shown "30",
        help "Close a session that sends nothing for this many seconds";
    send_timeout_s: u64 = 10, kind Int<u64, 1, UNBOUNDED>,
        env "STREAM_SEND_TIMEOUT_S", flag "send-timeout-s", value "SECONDS", shown "10",
        help "End a session whose client has taken no message for this many seconds (it stopped reading)";
    frame_budget_mb: u64 = 128, kind Int<u64, 1, UNBOUNDED>,
        env "STREAM_FRAME_BUDGET_MB", flag "frame-budget-mb", value "MIB", shown "128",
        help "Memory for partly received frames across all sessions, in MiB; a session that would go over it \
              is closed with server_busy";
    max_connections: usize = 512, kind Int<usize, 1, UNBOUNDED>,
        env "STREAM_MAX_CONNECTIONS", flag "max-connections", value "N", shown "512",
        help "Open TCP connections (HTTP and WebSocket); further ones wait in the listen queue";
    header_timeout_s: u64 = 15, kind Int<u64, 1, UNBOUNDED>,
        env "STREAM_HEADER_TIMEOUT_S", flag "header-timeout-s", value "SECONDS", shown "15",
        help "Close a connection whose request headers (a WebSocket upgrade's included) are not complete this \
              many seconds after it opened or after its previous response";
    body_timeout_s: u64 = 30, kind Int<u64, 1, UNBOUNDED>,
        env "STREAM_BODY_TIMEOUT_S", flag "body-timeout-s", value "SECONDS", shown "30",
        help "Abort an upload that sends too little for this many seconds (see --upload-min-rate-kib)";
    upload_min_rate_kib: u64 = 16, kind Int<u64, 0, UNBOUNDED>,
        env "STREAM_UPLOAD_MIN_RATE_KIB", flag "upload-min-rate-kib", value "KIB_PER_S", shown "16",
        help "Slowest accepted upload, in KiB/s averaged over each --body-timeout-s window (0: only a silent \
              upload is aborted)";
    allowed_origins: Vec<String> = Vec::new(), kind List,
        env "STREAM_ALLOWED_ORIGINS", flag "allowed-origins", value "ORIGINS", shown "none",
        help "Browser origins besides the server's own allowed to open the WebSocket and change state \
              (comma-separated, e.g. http://localhost:5173; * allows any)";
    allowed_hosts: Vec<String> = Vec::new(), kind List,
        env "STREAM_ALLOWED_HOSTS", flag "allowed-hosts", value "HOSTS", shown "none",
        help "Host header names accepted besides localhost, 127.0.0.1 and ::1 when bound to loopback; when \
              set, enforced on any bind (comma-separated)";
    max_pixels: u64 = 40_000_000, kind Int<u64, 1, UNBOUNDED>,
        env "STREAM_MAX_PIXELS", flag "max-pixels", value "PIXELS", shown "40000000",
        help "Largest accepted width × height of a frame";
    bind: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 8080)), kind Addr,
        env "STREAM_BIND", flag "bind", value "ADDR", shown "127.0.0.1:8080",
        help "Listen address; port 0 picks a free port, which the log reports";
    pipelines_dir: Option<PathBuf> = None, kind OptionalDir,
        env "STREAM_PIPELINES_DIR", flag "pipelines-dir", value "DIR", shown "none",
        help "Folder of extra pipeline definitions";
    models_dir: PathBuf = PathBuf::from("fixtures/models"), kind Dir,
        env "STREAM_MODELS_DIR", flag "models-dir", value "DIR", shown "fixtures/models",
        help "Folder of the model files (the bundled models by default)";
    web_dir: PathBuf = PathBuf::from("web-ui/dist"), kind Dir,
        env "STREAM_WEB_DIR", flag "web-dir", value "DIR", shown "web-ui/dist",
        help "Folder of the built web UI, served at /";
    data_dir: PathBuf = PathBuf::from("./data"), kind Dir,
        env "STREAM_DATA_DIR", flag "data-dir", value "DIR", shown "./data",
        help "Folder of the job database and uploads";
    log_format: LogFormat = LogFormat::Json, kind Format,
        env "STREAM_LOG_FORMAT", flag "log-format", value "FORMAT", shown "json",
        help "Log format: json or pretty";
    log_level: String = "info".to_owned(), kind Filter,
        env "STREAM_LOG", flag "log-level", value "FILTER", shown "info",
        help "Log filter: a tracing EnvFilter directive such as info or stream_server=debug,info";
    inference_threads: usize = available_cores(), kind Int<usize, 1, UNBOUNDED>,
        env "STREAM_INFERENCE_THREADS", flag "inference-threads", value "N", shown "number of cores",
        help "Concurrent pipeline runs across all sessions";
    model_threads: usize = available_cores(), kind Int<usize, 1, 64>,
        env "STREAM_MODEL_THREADS", flag "model-threads", value "N", shown "number of cores",
        help "Threads a model run may use when it is the only one running (1 to 64); runs that overlap another \
              use one thread each, so one camera gets every core and many cameras one core each";
    engine: EngineName = EngineName::Auto, kind EngineKind,
        env "STREAM_ENGINE", flag "engine", value "ENGINE", shown "auto",
        help "Inference engine: auto (onnxruntime if its library is found and loads, else tract), tract (pure \
              Rust) or onnxruntime (a start-up error without its library: see --onnxruntime-library)";
    onnxruntime_library: PathBuf = default_onnxruntime_library(), kind Dir,
        env "STREAM_ONNXRUNTIME_LIBRARY", flag "onnxruntime-library", value "FILE",
        shown "target/onnxruntime/libonnxruntime.so.1.31.1",
        help "The onnxruntime shared library (`just onnxruntime` fetches it from the PyPI wheel into the \
              default path); with --engine auto, the same file name beside the binary and the default path are \
              tried next";
    onnxruntime_spinning: bool = false, kind Bool,
        env "STREAM_ONNXRUNTIME_SPINNING", flag "onnxruntime-spinning", value "BOOL", shown "false",
        help "Let onnxruntime's threads spin while waiting for work: a little less latency, idle cores kept \
              busy";
    shutdown_grace_s: u64 = 5, kind Int<u64, 0, UNBOUNDED>,
        env "STREAM_SHUTDOWN_GRACE_S", flag "shutdown-grace-s", value "SECONDS", shown "5",
        help "Seconds sessions get to close on SIGINT/SIGTERM";
    max_upload_mb: u64 = 500, kind Int<u64, 1, UNBOUNDED>,
        env "STREAM_MAX_UPLOAD_MB", flag "max-upload-mb", value "MIB", shown "500",
        help "Largest accepted upload, in MiB";
    job_retention_h: u64 = 168, kind Int<u64, 0, UNBOUNDED>,
        env "STREAM_JOB_RETENTION_H", flag "job-retention-h", value "HOURS", shown "168",
        help "Delete finished jobs (results and upload) this many hours after they finished (0: keep them)";
    max_storage_mb: u64 = 10240, kind Int<u64, 1, UNBOUNDED>,
        env "STREAM_MAX_STORAGE_MB", flag "max-storage-mb", value "MIB", shown "10240",
        help "Most MiB of uploads kept on disk: the oldest finished jobs are deleted to make room, and an upload \
              that does not fit is refused with 507";
    job_workers: usize = 1, kind Int<usize, 0, UNBOUNDED>,
        env "STREAM_JOB_WORKERS", flag "job-workers", value "N", shown "1",
        help "Background video job workers; each holds at most one inference slot at a time, so this is the \
              share of --inference-threads jobs can take. 0 turns video jobs off";
    job_store: StoreConfig = StoreConfig::Sqlite, kind JobStoreKind,
        env "STREAM_JOB_STORE", flag "job-store", value "STORE", shown "sqlite",
        help "Where jobs are kept: sqlite (a file in --data-dir, one replica runs jobs) or a postgres:// URL (a \
              database every replica shares: see docs/operations.md)";
    job_lease_s: u64 = 30, kind Int<u64, 3, 3600>,
        env "STREAM_JOB_LEASE_S", flag "job-lease-s", value "SECONDS", shown "30",
        help "How long a worker's claim on a job holds without renewal (renewed every third of it): a replica \
              that dies has its job taken over by another after this long (3 to 3600)";
}
