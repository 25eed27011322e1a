//! Resident memory of another process, from `/proc/PID/status` (Linux).

use std::io;

use serde::Serialize;

/// Reads `VmRSS` of process `pid`, in KiB.
pub fn read_vm_rss_kb(pid: u32) -> io::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    parse_vm_rss_kb(&status).ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no VmRSS line"))
}

/// The `VmRSS:  12345 kB` value of a `/proc/PID/status` text, in KiB.
pub fn parse_vm_rss_kb(status: &str) -> Option<u64> {
    let line = status.lines().find_map(|line| line.strip_prefix("VmRSS:"))?;
    let mut words = line.split_whitespace();
    let value: u64 = words.next()?.parse().ok()?;
    match words.next() {
        Some("kB") | None => Some(value),
        Some(_) => None,
    }
}

/// Memory of the sampled process over a run, in KiB.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RssReport {
    /// The sampled process.
    pub pid: u32,
    /// Before any session connected.
    pub start_kb: u64,
    /// Idle mode: with every session open, just before they are closed.
    pub open_kb: Option<u64>,
    /// After every session closed.
    pub end_kb: Option<u64>,
    /// Largest sample.
    pub max_kb: u64,
    /// Idle mode: `(open - start) / sessions opened`.
    pub per_idle_session_kb: Option<f64>,
    /// `(seconds since start, KiB)` every second; a gap means the process could not be read.
    pub samples: Vec<(f64, u64)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status() {
        let status = "Name:\tstream-server\nVmPeak:\t  99999 kB\nVmRSS:\t   45120 kB\nThreads:\t4\n";
        assert_eq!(parse_vm_rss_kb(status), Some(45_120));
        assert_eq!(parse_vm_rss_kb("Name:\tx\n"), None);
        assert_eq!(parse_vm_rss_kb("VmRSS:\tlots kB\n"), None);
        assert_eq!(parse_vm_rss_kb("VmRSS:\t12 MB\n"), None);
    }

    #[test]
    fn reads_own_process() {
        let kb = read_vm_rss_kb(std::process::id()).unwrap();
        assert!(kb > 0);
    }
}
