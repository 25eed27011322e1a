//! Configuration: sources and their order, every setting from every source, and the error messages.
//!
//! The environment is a map passed to `ServerConfig::load`; config files are unique temp files.
#![allow(clippy::unwrap_used)]

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use stream_server::config::{ConfigError, EngineName, LogFormat, Origin, ServerConfig, Setting, settings};

/// Loads a configuration from `args` (without the program name) and the environment `env`.
fn load(args: &[&str], env: &[(&str, &str)]) -> Result<ServerConfig, ConfigError> {
    let env: HashMap<String, String> = env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    ServerConfig::load(std::iter::once("stream-server").chain(args.iter().copied()), move |key: &str| {
        env.get(key).cloned()
    })
}

/// The error message of a load that must fail.
fn error(args: &[&str], env: &[(&str, &str)]) -> ConfigError {
    match load(args, env) {
        Ok(config) => panic!("expected an error for {args:?} {env:?}, got {config:?}"),
        Err(error) => error,
    }
}

/// A config file that is deleted when dropped.
struct TempFile(PathBuf);

impl TempFile {
    fn new(contents: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "stream-server-config-test-{}-{}.toml",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let path = std::env::temp_dir().join(name);
        std::fs::write(&path, contents).unwrap();
        Self(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The value (as `describe` shows it) and origin of one setting.
fn value_of(config: &ServerConfig, name: &str) -> (String, Origin) {
    let described = config.describe().into_iter().find(|d| d.name == name).unwrap();
    (described.value, described.origin)
}

fn setting(name: &str) -> Setting {
    settings().into_iter().find(|s| s.name == name).unwrap()
}

#[test]
fn defaults() {
    let config = load(&[], &[]).unwrap();
    assert_eq!(config, ServerConfig::default());
    assert_eq!(config.drop_threshold, 0.10);
    assert_eq!(config.slowdown_threshold, 0.30);
    assert_eq!(config.max_frame_size_mb, 5);
    assert_eq!(config.max_sessions, 10);
    assert!(!config.enforce_max_sessions);
    assert_eq!(config.drop_window, 30);
    assert_eq!(config.idle_timeout_s, 30);
    assert_eq!(config.max_pixels, 40_000_000);
    assert_eq!(config.bind, SocketAddr::from(([127, 0, 0, 1], 8080)));
    assert_eq!(config.pipelines_dir, None);
    assert_eq!(config.models_dir, Path::new("fixtures/models"));
    assert_eq!(config.web_dir, Path::new("web-ui/dist"));
    assert_eq!(config.data_dir, Path::new("./data"));
    assert_eq!(config.log_format, LogFormat::Json);
    assert_eq!(config.log_level, "info");
    assert_eq!(config.inference_threads, std::thread::available_parallelism().unwrap().get());
    assert_eq!(config.model_threads, std::thread::available_parallelism().unwrap().get());
    assert_eq!(config.engine, EngineName::Auto);
    assert_eq!(config.onnxruntime_library, Path::new("target/onnxruntime/libonnxruntime.so.1.31.1"));
    assert!(!config.onnxruntime_spinning);
    assert_eq!(config.shutdown_grace_s, 5);
    assert_eq!(config.max_upload_mb, 500);
    assert_eq!(config.job_workers, 1);

    assert_eq!(config.max_frame_bytes(), 5 * 1024 * 1024);
    assert_eq!(config.max_upload_bytes(), 500 * 1024 * 1024);
    assert_eq!(config.idle_timeout(), Duration::from_secs(30));
    assert_eq!(config.shutdown_grace(), Duration::from_secs(5));
    assert!(config.describe().iter().all(|d| d.origin == Origin::Default));
    assert_eq!(config.config_file, None);
    config.validate().unwrap();
}

/// The default `--help` shows is the default the code uses.
#[test]
fn documented_defaults_are_the_defaults() {
    let described = ServerConfig::default().describe();
    let settings = settings();
    assert_eq!(described.len(), settings.len());
    for (setting, described) in settings.iter().zip(&described) {
        assert_eq!(setting.name, described.name);
        let default = if setting.default.is_empty() { "none" } else { &setting.default };
        assert_eq!(default, described.value, "{}", setting.name);
    }
}

/// Names follow one scheme: file key = field name, flag = name with dashes, env = `STREAM_` + upper case
/// (`log_level` is `STREAM_LOG`, as SPEC §7 names it).
#[test]
fn setting_names_are_consistent_and_unique() {
    let (mut names, mut envs, mut flags) = (HashSet::new(), HashSet::new(), HashSet::new());
    let settings = settings();
    assert_eq!(settings.len(), 36);
    for s in &settings {
        assert_eq!(s.flag, s.name.replace('_', "-"));
        let env = if s.name == "log_level" { "STREAM_LOG".to_owned() } else { format!("STREAM_{}", s.name) };
        assert_eq!(s.env, env.to_ascii_uppercase());
        assert!(names.insert(&s.name) && envs.insert(&s.env) && flags.insert(&s.flag), "{} repeats", s.name);
        assert!(!s.help.is_empty());
    }
}

#[test]
fn each_source_overrides_the_one_below() {
    let file = TempFile::new(
        "drop_window = 40\nbind = \"127.0.0.1:9001\"\nlog_format = \"pretty\"\nenforce_max_sessions = true\n\
         models_dir = \"/file/models\"\n",
    );
    let env = [
        ("STREAM_BIND", "127.0.0.1:9002"),
        ("STREAM_LOG_FORMAT", "json"),
        ("STREAM_ENFORCE_MAX_SESSIONS", "false"),
        ("STREAM_MODELS_DIR", "/env/models"),
    ];
    let cli =
        ["--config", file.path(), "--log-format", "pretty", "--enforce-max-sessions", "--models-dir=/cli"];

    // File only.
    let config = load(&["--config", file.path()], &[]).unwrap();
    assert_eq!(config.drop_window, 40);
    assert_eq!(config.bind.port(), 9001);
    assert_eq!(config.log_format, LogFormat::Pretty);
    assert!(config.enforce_max_sessions);
    assert_eq!(config.origins.get("drop_window"), Some(Origin::ConfigFile));
    assert_eq!(config.origins.get("max_sessions"), Some(Origin::Default));
    assert_eq!(config.config_file.as_deref(), Some(Path::new(file.path())));

    // Environment over file.
    let config = load(&["--config", file.path()], &env).unwrap();
    assert_eq!(config.drop_window, 40);
    assert_eq!(config.bind.port(), 9002);
    assert_eq!(config.log_format, LogFormat::Json);
    assert!(!config.enforce_max_sessions);
    assert_eq!(config.models_dir, Path::new("/env/models"));
    assert_eq!(config.origins.get("bind"), Some(Origin::Environment));
    assert_eq!(config.origins.get("drop_window"), Some(Origin::ConfigFile));

    // Command line over environment.
    let config = load(&cli, &env).unwrap();
    assert_eq!(config.drop_window, 40);
    assert_eq!(config.bind.port(), 9002);
    assert_eq!(config.log_format, LogFormat::Pretty);
    assert!(config.enforce_max_sessions);
    assert_eq!(config.models_dir, Path::new("/cli"));
    assert_eq!(config.origins.get("log_format"), Some(Origin::CommandLine));
    assert_eq!(config.origins.get("idle_timeout_s"), Some(Origin::Default));
}

#[test]
fn config_file_from_environment_and_command_line_wins() {
    let from_env = TempFile::new("max_sessions = 3\n");
    let from_cli = TempFile::new("max_sessions = 4\n");
    let config = load(&[], &[("STREAM_CONFIG", from_env.path())]).unwrap();
    assert_eq!(config.max_sessions, 3);
    let config = load(&["--config", from_cli.path()], &[("STREAM_CONFIG", from_env.path())]).unwrap();
    assert_eq!(config.max_sessions, 4);
}

/// (setting, text for the command line and the environment, TOML value, value as `describe` shows it)
const GOOD: &[(&str, &str, &str, &str)] = &[
    ("drop_threshold", "0.25", "0.25", "0.25"),
    ("slowdown_threshold", "0.5", "0.5", "0.5"),
    ("max_frame_size_mb", "7", "7", "7"),
    ("session_limit", "5", "5", "5"),
    ("max_sessions", "3", "3", "3"),
    ("enforce_max_sessions", "yes", "true", "true"),
    ("drop_window", "10000", "1", "VARIES"),
    ("idle_timeout_s", "9", "9", "9"),
    ("send_timeout_s", "4", "4", "4"),
    ("frame_budget_mb", "64", "64", "64"),
    ("max_connections", "100", "100", "100"),
    ("header_timeout_s", "3", "3", "3"),
    ("body_timeout_s", "60", "60", "60"),
    ("upload_min_rate_kib", "0", "0", "0"),
    (
        "allowed_origins",
        "http://a.example, https://b.example:8443",
        "[\"http://a.example\", \"https://b.example:8443\"]",
        "http://a.example,https://b.example:8443",
    ),
    ("allowed_hosts", "stream.lan", "[\"stream.lan\"]", "stream.lan"),
    ("max_pixels", "1000", "1000", "1000"),
    ("bind", "0.0.0.0:9000", "\"0.0.0.0:9000\"", "0.0.0.0:9000"),
    ("pipelines_dir", "/tmp/pipes", "\"/tmp/pipes\"", "/tmp/pipes"),
    ("models_dir", "models", "\"models\"", "models"),
    ("web_dir", "/srv/web", "\"/srv/web\"", "/srv/web"),
    ("data_dir", "/var/lib/stream", "\"/var/lib/stream\"", "/var/lib/stream"),
    ("log_format", "Pretty", "\"pretty\"", "pretty"),
    ("log_level", "stream_server=debug,info", "\"stream_server=debug,info\"", "stream_server=debug,info"),
    ("inference_threads", "3", "3", "3"),
    ("model_threads", "2", "2", "2"),
    ("engine", "OnnxRuntime", "\"onnxruntime\"", "onnxruntime"),
    ("onnxruntime_library", "/opt/ort/lib.so", "\"/opt/ort/lib.so\"", "/opt/ort/lib.so"),
    ("onnxruntime_spinning", "1", "true", "true"),
    ("shutdown_grace_s", "0", "0", "0"),
    ("max_upload_mb", "20", "20", "20"),
    ("job_retention_h", "0", "0", "0"),
    ("max_storage_mb", "2048", "2048", "2048"),
    ("job_workers", "4", "4", "4"),
    // The password never reaches the start-up log.
    (
        "job_store",
        "postgres://app:secret@db.lan:5432/jobs",
        "\"postgres://app:secret@db.lan:5432/jobs\"",
        "postgres://app:***@db.lan:5432/jobs",
    ),
    ("job_lease_s", "10", "10", "10"),
];

#[test]
fn every_setting_from_every_source() {
    let covered: HashSet<_> = GOOD.iter().map(|row| row.0).collect();
    let all = settings();
    assert_eq!(covered, all.iter().map(|s| s.name.as_str()).collect(), "every setting has a row");

    for &(name, text, toml, shown) in GOOD {
        let s = setting(name);
        let (text_shown, toml_shown) = if shown == "VARIES" { (text, toml) } else { (shown, shown) };

        let flag = format!("--{}={text}", s.flag);
        let config = load(&[&flag], &[]).unwrap();
        assert_eq!(value_of(&config, name), (text_shown.to_owned(), Origin::CommandLine), "{flag}");

        let config = load(&[], &[(&s.env, text)]).unwrap();
        assert_eq!(value_of(&config, name), (text_shown.to_owned(), Origin::Environment), "{}", s.env);

        let file = TempFile::new(&format!("{name} = {toml}\n"));
        let config = load(&["--config", file.path()], &[]).unwrap();
        assert_eq!(value_of(&config, name), (toml_shown.to_owned(), Origin::ConfigFile), "{name} = {toml}");
    }
}

/// (setting, bad text for the command line and the environment, bad TOML value, expected)
const BAD: &[(&str, &str, &str, &str)] = &[
    ("drop_threshold", "abc", "1.5", "expected a number between 0 and 1"),
    ("slowdown_threshold", "-0.1", "-1", "expected a number between 0 and 1"),
    ("max_frame_size_mb", "0", "0", "expected a whole number between 1 and 4294967295"),
    ("session_limit", "0", "0", "expected a whole number of at least 1"),
    ("max_sessions", "many", "2.5", "expected a whole number of at least 1"),
    ("enforce_max_sessions", "maybe", "2", "expected true or false"),
    ("drop_window", "10001", "0", "expected a whole number between 1 and 10000"),
    ("idle_timeout_s", "0", "-5", "expected a whole number of at least 1"),
    ("send_timeout_s", "0", "0", "expected a whole number of at least 1"),
    ("frame_budget_mb", "0", "\"0\"", "expected a whole number of at least 1"),
    ("max_connections", "0", "0", "expected a whole number of at least 1"),
    ("header_timeout_s", "0", "0", "expected a whole number of at least 1"),
    ("body_timeout_s", "soon", "0", "expected a whole number of at least 1"),
    ("upload_min_rate_kib", "-1", "1.5", "expected a whole number"),
    ("allowed_origins", "http://a b", "[\"a b\"]", "expected a comma-separated list of words without spaces"),
    ("allowed_hosts", "a host", "\"a b\"", "expected a comma-separated list of words without spaces"),
    ("max_pixels", "1e6", "0", "expected a whole number of at least 1"),
    ("bind", "localhost:8080", "8080", "expected an IP address and port"),
    ("pipelines_dir", "", "\"\"", "expected a non-empty path"),
    ("models_dir", "", "\"\"", "expected a non-empty path"),
    ("web_dir", "", "\"\"", "expected a non-empty path"),
    ("data_dir", "", "[]", "expected a non-empty path"),
    ("log_format", "xml", "\"xml\"", "expected json or pretty"),
    ("log_level", " ", "\"\"", "expected a non-empty log filter"),
    ("inference_threads", "0", "0", "expected a whole number of at least 1"),
    ("model_threads", "65", "0", "expected a whole number between 1 and 64"),
    ("engine", "tensorflow", "1", "expected auto, tract or onnxruntime"),
    ("onnxruntime_library", "", "\"\"", "expected a non-empty path"),
    ("onnxruntime_spinning", "spin", "\"on\"", "expected true or false"),
    ("shutdown_grace_s", "-1", "1.5", "expected a whole number"),
    ("max_upload_mb", "0", "0.5", "expected a whole number of at least 1"),
    ("job_retention_h", "a week", "-1", "expected a whole number"),
    ("max_storage_mb", "0", "0", "expected a whole number of at least 1"),
    ("job_workers", "-1", "-1", "expected a whole number"),
    ("job_store", "mysql://db/jobs", "3", "expected sqlite or a postgres:// URL"),
    ("job_lease_s", "2", "3601", "expected a whole number between 3 and 3600"),
];

#[test]
fn bad_values_name_the_setting_and_the_source() {
    let covered: HashSet<_> = BAD.iter().map(|row| row.0).collect();
    let all = settings();
    assert_eq!(covered, all.iter().map(|s| s.name.as_str()).collect(), "every setting has a row");

    for &(name, text, toml, expected) in BAD {
        let s = setting(name);

        let flag = format!("--{}={text}", s.flag);
        let err = error(&[&flag], &[]);
        let message = err.to_string();
        assert!(
            message
                .starts_with(&format!("invalid value {text:?} for --{} (command line): {expected}", s.flag)),
            "{message}"
        );
        assert_eq!(err.exit_code(), 2);
        assert!(matches!(err, ConfigError::Invalid { ref setting, .. } if setting == name));

        let message = error(&[], &[(&s.env, text)]).to_string();
        assert!(
            message.starts_with(&format!("invalid value {text:?} for {} (environment): {expected}", s.env)),
            "{message}"
        );

        let file = TempFile::new(&format!("{name} = {toml}\n"));
        let err = error(&["--config", file.path()], &[]);
        let message = err.to_string();
        assert!(message.contains(&format!(" for {name} in {}: {expected}", file.path())), "{message}");
        assert_eq!(err.exit_code(), 2);
    }
}

#[test]
fn message_matches_the_documented_example() {
    let message = error(&[], &[("STREAM_DROP_THRESHOLD", "abc")]).to_string();
    assert_eq!(
        message,
        r#"invalid value "abc" for STREAM_DROP_THRESHOLD (environment): expected a number between 0 and 1"#
    );
    let file = TempFile::new("drop_window = 0\n");
    let message = error(&["--config", file.path()], &[]).to_string();
    assert_eq!(
        message,
        format!(
            "invalid value \"0\" for drop_window in {}: expected a whole number between 1 and 10000",
            file.path()
        )
    );
}

/// Every value given is checked, even one a higher source overrides.
#[test]
fn overridden_bad_values_are_still_errors() {
    let message = error(&["--drop-window", "20"], &[("STREAM_DROP_WINDOW", "lots")]).to_string();
    assert!(message.contains("STREAM_DROP_WINDOW (environment)"), "{message}");
    let file = TempFile::new("drop_window = \"lots\"\n");
    let message = error(&["--config", file.path()], &[("STREAM_DROP_WINDOW", "20")]).to_string();
    assert!(message.contains("drop_window in "), "{message}");
}

#[test]
fn unknown_file_key() {
    let file = TempFile::new("drop_window = 20\nframe_rate = 30\n");
    let err = error(&["--config", file.path()], &[]);
    let message = err.to_string();
    assert!(
        message.starts_with(&format!("unknown key \"frame_rate\" in config file {}", file.path())),
        "{message}"
    );
    assert!(matches!(err, ConfigError::UnknownKey { ref key, .. } if key == "frame_rate"));
    assert_eq!(err.exit_code(), 2);

    for spelled in ["drop-window", "STREAM_DROP_WINDOW"] {
        let file = TempFile::new(&format!("{spelled} = 20\n"));
        let message = error(&["--config", file.path()], &[]).to_string();
        assert!(message.ends_with("did you mean \"drop_window\"?"), "{message}");
    }

    // A section is not a setting either.
    let file = TempFile::new("[server]\ndrop_window = 20\n");
    assert!(error(&["--config", file.path()], &[]).to_string().contains("unknown key \"server\""));
}

#[test]
fn missing_config_file_is_named() {
    let path = std::env::temp_dir().join(format!("stream-server-no-such-file-{}.toml", std::process::id()));
    let path = path.to_str().unwrap();

    let err = error(&["--config", path], &[]);
    let message = err.to_string();
    assert!(
        message.starts_with(&format!("cannot read config file {path} (given by --config): ")),
        "{message}"
    );
    assert!(matches!(err, ConfigError::ReadFile { .. }));
    assert_eq!(err.exit_code(), 2);

    let message = error(&[], &[("STREAM_CONFIG", path)]).to_string();
    assert!(
        message.starts_with(&format!("cannot read config file {path} (given by STREAM_CONFIG): ")),
        "{message}"
    );

    let message = error(&[], &[("STREAM_CONFIG", "")]).to_string();
    assert!(message.contains("STREAM_CONFIG (environment)"), "{message}");
}

#[test]
fn invalid_toml_is_named() {
    let file = TempFile::new("drop_window = \n");
    let err = error(&["--config", file.path()], &[]);
    assert!(matches!(err, ConfigError::ParseFile { .. }));
    let message = err.to_string();
    assert!(message.starts_with(&format!("config file {} is not valid TOML: ", file.path())), "{message}");
    assert!(message.contains("line 1"), "{message}");
}

#[test]
fn help_lists_every_flag_env_and_default() {
    for flag in ["--help", "-h"] {
        let err = error(&[flag], &[]);
        assert_eq!(err.exit_code(), 0);
        assert!(!err.is_error());
        let ConfigError::Help(help) = err else { panic!("{flag} is not help: {err:?}") };
        assert_eq!(help, ServerConfig::help());
        // Lines may wrap anywhere the terminal width requires.
        let help = help.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(help.contains("--config <FILE>") && help.contains("STREAM_CONFIG"), "{help}");
        for s in settings() {
            assert!(help.contains(&format!("--{} ", s.flag)), "{} missing from\n{help}", s.flag);
            assert!(help.contains(&format!("[env: {}]", s.env)), "{} missing from\n{help}", s.env);
            let default = format!("[default: {}]", s.default);
            assert!(s.default.is_empty() || help.contains(&default), "{} default missing", s.name);
        }
    }
}

#[test]
fn version_exits_zero() {
    for flag in ["--version", "-V"] {
        let err = error(&[flag], &[]);
        assert_eq!(err.exit_code(), 0);
        let ConfigError::Version(version) = err else { panic!("{flag} is not the version: {err:?}") };
        assert!(version.contains(env!("CARGO_PKG_VERSION")), "{version}");
    }
}

#[test]
fn usage_errors_exit_two() {
    let err = error(&["--frame-rate", "30"], &[]);
    assert!(matches!(err, ConfigError::Usage(_)));
    assert_eq!(err.exit_code(), 2);
    assert!(err.is_error());
    let message = err.to_string();
    assert!(message.contains("--frame-rate") && !message.starts_with("error:"), "{message}");

    let message = error(&["--drop-window"], &[]).to_string();
    assert!(message.contains("--drop-window"), "{message}");

    let message = error(&["--drop-window", "1", "--drop-window", "2"], &[]).to_string();
    assert!(message.contains("--drop-window"), "{message}");
}

#[test]
fn bool_spellings() {
    for (text, value) in [
        ("true", true),
        ("TRUE", true),
        ("1", true),
        ("yes", true),
        ("Yes", true),
        ("false", false),
        ("False", false),
        ("0", false),
        ("no", false),
        ("NO", false),
    ] {
        let config = load(&[], &[("STREAM_ENFORCE_MAX_SESSIONS", text)]).unwrap();
        assert_eq!(config.enforce_max_sessions, value, "env {text}");
        let config = load(&[&format!("--enforce-max-sessions={text}")], &[]).unwrap();
        assert_eq!(config.enforce_max_sessions, value, "flag {text}");
        let config = load(&["--enforce-max-sessions", text], &[]).unwrap();
        assert_eq!(config.enforce_max_sessions, value, "flag {text}");
    }
    // The flag alone means true, and is followed by other flags as usual.
    let config = load(&["--enforce-max-sessions", "--max-sessions", "2"], &[]).unwrap();
    assert!(config.enforce_max_sessions);
    assert_eq!(config.max_sessions, 2);
    // An explicit false on the command line beats the environment.
    let config = load(&["--enforce-max-sessions=false"], &[("STREAM_ENFORCE_MAX_SESSIONS", "true")]).unwrap();
    assert!(!config.enforce_max_sessions);
    // TOML takes its own booleans.
    let file = TempFile::new("enforce_max_sessions = true\n");
    assert!(load(&["--config", file.path()], &[]).unwrap().enforce_max_sessions);
    for bad in ["maybe", "on", "2", ""] {
        let message = error(&[], &[("STREAM_ENFORCE_MAX_SESSIONS", bad)]).to_string();
        assert!(message.contains("STREAM_ENFORCE_MAX_SESSIONS (environment)"), "{message}");
    }
}

#[test]
fn drop_threshold_must_not_exceed_slowdown_threshold() {
    let err = error(&[], &[("STREAM_DROP_THRESHOLD", "0.5")]);
    assert!(matches!(err, ConfigError::Conflict { settings: ["drop_threshold", "slowdown_threshold"], .. }));
    assert_eq!(err.exit_code(), 2);
    let message = err.to_string();
    assert_eq!(
        message,
        "drop_threshold must not be greater than slowdown_threshold: 0.5 from STREAM_DROP_THRESHOLD \
         (environment) > 0.3 from slowdown_threshold (default)"
    );

    let message = error(&["--slowdown-threshold", "0.05"], &[]).to_string();
    assert!(message.contains("--slowdown-threshold (command line)"), "{message}");
    assert!(message.contains("drop_threshold (default)"), "{message}");

    let file = TempFile::new("drop_threshold = 0.9\n");
    let message = error(&["--config", file.path()], &[]).to_string();
    assert!(message.contains(&format!("0.9 from drop_threshold in {} >", file.path())), "{message}");

    // Equal is fine, and a higher slowdown threshold from another source resolves it.
    let config = load(&["--slowdown-threshold", "0.5"], &[("STREAM_DROP_THRESHOLD", "0.5")]).unwrap();
    assert_eq!((config.drop_threshold, config.slowdown_threshold), (0.5, 0.5));
    load(&["--slowdown-threshold=1"], &[("STREAM_DROP_THRESHOLD", "0.9")]).unwrap();
}

#[test]
fn bind_port_zero() {
    let config = load(&["--bind", "127.0.0.1:0"], &[]).unwrap();
    assert_eq!(config.bind, SocketAddr::from(([127, 0, 0, 1], 0)));
    let config = load(&[], &[("STREAM_BIND", "[::1]:0")]).unwrap();
    assert_eq!(config.bind.port(), 0);
    assert!(config.bind.is_ipv6());
    let file = TempFile::new("bind = \"0.0.0.0:0\"\n");
    assert_eq!(load(&["--config", file.path()], &[]).unwrap().bind.port(), 0);
    assert!(error(&["--bind", "127.0.0.1"], &[]).to_string().contains("--bind (command line)"));
}

#[test]
fn rates_accept_bounds_and_toml_integers() {
    let config = load(&["--drop-threshold", "0", "--slowdown-threshold", "1"], &[]).unwrap();
    assert_eq!((config.drop_threshold, config.slowdown_threshold), (0.0, 1.0));
    let file = TempFile::new("drop_threshold = 0\nslowdown_threshold = 1\n");
    let config = load(&["--config", file.path()], &[]).unwrap();
    assert_eq!((config.drop_threshold, config.slowdown_threshold), (0.0, 1.0));
    for bad in ["NaN", "inf", "1.0001"] {
        assert!(error(&[], &[("STREAM_SLOWDOWN_THRESHOLD", bad)]).to_string().contains("between 0 and 1"));
    }
}

#[test]
fn validate_checks_configs_built_in_code() {
    let config = ServerConfig { drop_window: 0, ..ServerConfig::default() };
    let message = config.validate().unwrap_err().to_string();
    assert_eq!(
        message,
        "invalid value \"0\" for drop_window (default): expected a whole number between 1 and 10000"
    );
    let config = ServerConfig { drop_threshold: 0.4, ..ServerConfig::default() };
    assert!(matches!(config.validate(), Err(ConfigError::Conflict { .. })));
    ServerConfig { max_sessions: 2, enforce_max_sessions: true, ..ServerConfig::default() }
        .validate()
        .unwrap();
}

#[test]
fn describe_reports_values_and_origins() {
    let config = load(&["--max-sessions", "4"], &[("STREAM_DROP_WINDOW", "60")]).unwrap();
    let line = config.describe_line();
    assert!(line.contains("max_sessions=4 (command line)"), "{line}");
    assert!(line.contains("drop_window=60 (environment)"), "{line}");
    assert!(line.contains("bind=127.0.0.1:8080 (default)"), "{line}");
    assert!(line.contains("pipelines_dir=none (default)"), "{line}");
    assert_eq!(config.describe().len(), settings().len());
    assert_eq!(config.origins.get("no_such_setting"), None);
}

#[test]
fn accessors_convert_units() {
    let config =
        load(&["--max-frame-size-mb", "2", "--idle-timeout-s", "7", "--shutdown-grace-s", "0"], &[]).unwrap();
    assert_eq!(config.max_frame_bytes(), 2 * 1024 * 1024);
    assert_eq!(config.idle_timeout(), Duration::from_secs(7));
    assert_eq!(config.shutdown_grace(), Duration::ZERO);
}

#[cfg(unix)]
#[test]
fn non_utf8_command_line_value_is_named() {
    use std::ffi::OsString;
    use std::os::unix::ffi::OsStringExt;

    let args =
        [OsString::from("stream-server"), OsString::from("--data-dir"), OsString::from_vec(vec![0xff])];
    let err = ServerConfig::load(args, |_: &str| None).unwrap_err();
    assert!(matches!(err, ConfigError::Usage(_)) && err.to_string().contains("UTF-8"), "{err}");
}
