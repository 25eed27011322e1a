//! A throw-away PostgreSQL cluster for tests: Debian's `postgresql` package (`/usr/lib/postgresql/*/bin`, or
//! `STREAM_TEST_PG_BIN`), `initdb` in a temporary directory, listening on a free loopback port, stopped and
//! removed on drop. Run as root (CI), the server runs as the `postgres` user, as PostgreSQL requires.
//! Also used by stream-server's tests (included there by path).
#![allow(dead_code, clippy::unwrap_used, clippy::print_stderr)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// A running cluster. Each test takes its own database from it ([`TempPostgres::database`]).
pub(crate) struct TempPostgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    as_root: bool,
}

fn pg_bin() -> PathBuf {
    if let Some(dir) = std::env::var_os("STREAM_TEST_PG_BIN") {
        return PathBuf::from(dir);
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|entries| {
            entries.flatten().map(|e| e.path().join("bin")).filter(|p| p.join("initdb").exists()).collect()
        })
        .unwrap_or_default();
    versions.sort();
    versions.pop().unwrap_or_else(|| {
        panic!(
            "PostgreSQL is needed for these tests: `apt-get install postgresql` (Debian), or set \
             STREAM_TEST_PG_BIN to the folder holding initdb and pg_ctl"
        )
    })
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

impl TempPostgres {
    /// Initialises and starts a cluster (a second or two).
    pub(crate) fn start() -> Self {
        let bin = pg_bin();
        let as_root = is_root();
        let dir = tempfile::Builder::new().prefix("stream-test-pg-").tempdir().unwrap();
        if as_root {
            // PostgreSQL refuses to run as root: the cluster belongs to the `postgres` user.
            run(Command::new("chown").args(["-R", "postgres:postgres"]).arg(dir.path()));
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let pg = Self { dir, bin, port, as_root };
        let data = pg.data_dir();
        pg.run_pg(
            "initdb",
            &["-D", path(&data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"],
        );
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {port} -k {} -c fsync=off -c synchronous_commit=off \
             -c full_page_writes=off -c max_connections=50",
            path(pg.dir.path())
        );
        let log = pg.dir.path().join("server.log");
        pg.run_pg(
            "pg_ctl",
            &["-D", path(&data), "-o", &options, "-l", path(&log), "-w", "-t", "60", "start"],
        );
        pg
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn command(&self, tool: &str) -> Command {
        let program = self.bin.join(tool);
        if self.as_root {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        }
    }

    fn run_pg(&self, tool: &str, args: &[&str]) {
        let mut command = self.command(tool);
        command.args(args);
        run(&mut command);
    }

    /// The port it listens on (127.0.0.1).
    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// A connection URL for database `name`.
    pub(crate) fn url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// Creates an empty database and returns its URL. (On a thread of its own: the synchronous client may not
    /// run on a thread driving async tasks, as an async test's is.)
    pub(crate) fn database(&self, name: &str) -> String {
        let admin = self.url("postgres");
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    let mut admin = postgres::Client::connect(&admin, postgres::NoTls).unwrap();
                    admin.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
                })
                .join()
                .unwrap();
        });
        self.url(name)
    }
}

impl Drop for TempPostgres {
    fn drop(&mut self) {
        let data = self.data_dir();
        let mut command = self.command("pg_ctl");
        command.args(["-D", path(&data), "-m", "immediate", "-w", "stop"]);
        if let Err(error) = command.output() {
            eprintln!("cannot stop the test cluster: {error}");
        }
    }
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn run(command: &mut Command) {
    let out = command.output().unwrap_or_else(|e| panic!("{command:?}: {e}"));
    assert!(
        out.status.success(),
        "{command:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
