//! An uploaded MP4, end to end through `VideoFrames`: the box-tree check, the demuxer, the sample tables and
//! the H.264 decoder. It must never panic or abort (an abort from a huge allocation is what this guards
//! against: libFuzzer's `-rss_limit_mb`/`-malloc_limit_mb` turn one into a finding), and every error must be a
//! sentence for the job's `error_message`.
//!
//! Seed it with the fixture videos: `cargo fuzz run mp4 fuzz/corpus/mp4 ../../fixtures/video
//! ../../fixtures/video/malformed`.
#![no_main]

use std::io::Write;

use libfuzzer_sys::fuzz_target;
use video_jobs::video::{Sampling, VideoFrames};

fuzz_target!(|bytes: &[u8]| {
    // VideoFrames reads a file, as jobs do; tmpfs keeps that cheap.
    let mut file = tempfile_in_shm();
    file.write_all(bytes).unwrap();
    let path = file.path().to_owned();
    let sampling = Sampling { stride: 3, max_frames: Some(8) };
    match VideoFrames::open(&path, sampling, 1 << 20) {
        Ok(mut frames) => {
            let _ = frames.frames_total();
            for _ in 0..32 {
                match frames.next_frame() {
                    Ok(Some(frame)) => assert!(frame.frame.width() * frame.frame.height() <= 1 << 20),
                    Ok(None) => break,
                    Err(error) => {
                        assert!(!error.to_string().is_empty());
                        break;
                    }
                }
            }
        }
        Err(error) => assert!(!error.to_string().is_empty()),
    }
});

struct ShmFile {
    path: std::path::PathBuf,
    file: std::fs::File,
}

impl ShmFile {
    fn path(&self) -> &std::path::Path {
        &self.path
    }
}

impl Write for ShmFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.file.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

impl Drop for ShmFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn tempfile_in_shm() -> ShmFile {
    let dir = if std::path::Path::new("/dev/shm").is_dir() { "/dev/shm" } else { "/tmp" };
    let path = std::path::PathBuf::from(format!("{dir}/video-jobs-fuzz-mp4-{}", std::process::id()));
    let file = std::fs::File::create(&path).unwrap();
    ShmFile { path, file }
}
