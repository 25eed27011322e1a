//! A structural check of an MP4's box tree, run before the `mp4` demuxer reads a byte of it.
//!
//! The demuxer trusts box sizes: some of its readers allocate a box's declared size before reading it (the
//! `hdlr` inside `meta`, the `data` boxes of `udta`), so a 94-byte file declaring a 2^64-byte box made the
//! allocation fail and the process abort — an abort, which no `catch_unwind` can contain. This module walks
//! the tree first, reading headers only:
//!
//! - every box's size must cover its own header and fit in what is left of its parent (the file, for top-level
//!   boxes), so every size the demuxer later sees is bounded by the file, which the upload limit bounds;
//! - it descends into exactly the containers the demuxer descends into, so no box the demuxer reads escapes
//!   the check; the counts inside leaf boxes (sample tables) are checked against their box's size by the
//!   demuxer itself (`mp4` 0.14);
//! - metadata the decoder does not need (`meta`, `udta`, `emsg`) is renamed to `free` in a read-time overlay
//!   ([`Guarded`]), so the demuxer skips it unread; the file on disk is untouched;
//! - the movie header (`moov`, or all `moof`s together) may not exceed [`MAX_HEADER_BYTES`]: the demuxer
//!   holds it parsed in memory.
//!
//! The walk is bounded: it reads 8 or 16 bytes per box and its depth is fixed by the container list.

use std::io::{self, Read, Seek, SeekFrom};

/// The most bytes of movie header (`moov` plus every `moof`) the demuxer is allowed to parse and hold. A
/// day of 60 fps video has ~5 million samples, whose tables take ~60 MiB; phones write a few hundred KiB.
pub const MAX_HEADER_BYTES: u64 = 64 * 1024 * 1024;

/// Why a file's box tree is refused. The message names the box, where it is and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StructureError {
    /// A top-level box runs past the end of the file: the upload was cut off.
    #[error(
        "box `{name}` at byte {offset} declares {declared} bytes, but the file ends {remaining} bytes later"
    )]
    Truncated {
        /// The box's type.
        name: String,
        /// Where it starts.
        offset: u64,
        /// Its declared size.
        declared: u64,
        /// Bytes left in the file from its start.
        remaining: u64,
    },
    /// A box is malformed: too small for its header, larger than its parent, or otherwise impossible.
    #[error("box `{name}` at byte {offset} {problem}")]
    Malformed {
        /// The box's type.
        name: String,
        /// Where it starts.
        offset: u64,
        /// What is wrong.
        problem: String,
    },
    /// The movie header is larger than [`MAX_HEADER_BYTES`].
    #[error("the movie header takes {bytes} bytes, over the limit of {MAX_HEADER_BYTES}")]
    HeaderTooLarge {
        /// Its size.
        bytes: u64,
    },
}

/// What the walk found: where the boxes the demuxer must skip are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Inspection {
    /// Offsets of the type field of each box renamed to `free`, ascending.
    pub(crate) blanked: Vec<u64>,
}

/// How the walk treats a box, by its type and its parent's.
enum Treatment {
    /// Checked, not entered.
    Leaf,
    /// Entered: its children start this many bytes after its header.
    Container(u64),
    /// Checked and renamed to `free`: the demuxer skips it.
    Blank,
}

fn treatment(parent: &[u8; 4], name: &[u8; 4]) -> Treatment {
    use Treatment::{Blank, Container, Leaf};
    match (parent, name) {
        (_, b"meta" | b"udta") => Blank,
        (b"file", b"emsg") => Blank,
        (b"file", b"moov" | b"moof") => Container(0),
        (b"moov", b"trak" | b"mvex") => Container(0),
        (b"trak", b"mdia" | b"edts") => Container(0),
        (b"mdia", b"minf") => Container(0),
        (b"minf", b"stbl" | b"dinf") => Container(0),
        // Full box header (4) and entry count (4), then the entries as boxes.
        (b"dinf", b"dref") | (b"stbl", b"stsd") => Container(8),
        // Visual sample entries: 78 bytes of fields, then their configuration boxes.
        (b"stsd", b"avc1" | b"hev1") => Container(78),
        // Audio sample entry: 28 bytes of fields, then `esds`.
        (b"stsd", b"mp4a") => Container(28),
        (b"moof", b"traf") => Container(0),
        _ => Leaf,
    }
}

/// Walks the box tree of the `file_len`-byte file behind `reader` (see the module documentation).
pub(crate) fn inspect<R: Read + Seek>(reader: &mut R, file_len: u64) -> Result<Inspection, StructureError> {
    let mut walk = Walk { reader, inspection: Inspection::default(), header_bytes: 0 };
    walk.children(b"file", 0, file_len)?;
    Ok(walk.inspection)
}

struct Walk<'r, R> {
    reader: &'r mut R,
    inspection: Inspection,
    header_bytes: u64,
}

impl<R: Read + Seek> Walk<'_, R> {
    /// Checks the boxes that fill `start..end` inside `parent`.
    fn children(&mut self, parent: &[u8; 4], start: u64, end: u64) -> Result<(), StructureError> {
        let top = parent == b"file";
        let mut at = start;
        while at < end {
            let remaining = end - at;
            let malformed = |name: &[u8; 4], problem: String| StructureError::Malformed {
                name: show(name),
                offset: at,
                problem,
            };
            if remaining < 8 {
                return Err(if top {
                    StructureError::Truncated { name: "?".into(), offset: at, declared: 8, remaining }
                } else {
                    malformed(parent, format!("ends with {remaining} bytes, too few for a box header"))
                });
            }
            let mut head = [0u8; 16];
            let io_error = |e: io::Error| malformed(parent, format!("cannot be read: {e}"));
            self.reader.seek(SeekFrom::Start(at)).map_err(io_error)?;
            self.reader.read_exact(&mut head[..8]).map_err(io_error)?;
            let name: [u8; 4] = [head[4], head[5], head[6], head[7]];
            let (size, header_len) = match u32::from_be_bytes([head[0], head[1], head[2], head[3]]) {
                // A 64-bit size follows the type.
                1 => {
                    if remaining < 16 {
                        return Err(malformed(&name, "has a 64-bit size cut off".into()));
                    }
                    self.reader.read_exact(&mut head[8..16]).map_err(io_error)?;
                    let mut large = [0u8; 8];
                    large.copy_from_slice(&head[8..16]);
                    (u64::from_be_bytes(large), 16)
                }
                // "Extends to the end of the file": only meaningful at the top level.
                0 if top => (remaining, 8),
                0 => return Err(malformed(&name, format!("has size 0 inside `{}`", show(parent)))),
                size => (u64::from(size), 8),
            };
            if size < header_len {
                return Err(malformed(&name, format!("declares {size} bytes, less than its own header")));
            }
            if size > remaining {
                return Err(if top {
                    StructureError::Truncated { name: show(&name), offset: at, declared: size, remaining }
                } else {
                    malformed(
                        &name,
                        format!(
                            "declares {size} bytes, but only {remaining} remain in its parent `{}`",
                            show(parent)
                        ),
                    )
                });
            }
            match treatment(parent, &name) {
                Treatment::Leaf => {}
                Treatment::Blank => self.inspection.blanked.push(at + 4),
                Treatment::Container(skip) => {
                    if top {
                        self.header_bytes = self.header_bytes.saturating_add(size);
                        if self.header_bytes > MAX_HEADER_BYTES {
                            return Err(StructureError::HeaderTooLarge { bytes: self.header_bytes });
                        }
                    }
                    let body = at + header_len;
                    if size - header_len < skip {
                        return Err(malformed(
                            &name,
                            format!("declares {size} bytes, too few for its fields"),
                        ));
                    }
                    self.children(&name, body + skip, at + size)?;
                }
            }
            at += size;
        }
        Ok(())
    }
}

/// A box type for messages: its four characters if printable, else hex.
fn show(name: &[u8; 4]) -> String {
    if name.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
        name.iter().map(|&b| char::from(b)).collect()
    } else {
        format!("0x{:08x}", u32::from_be_bytes(*name))
    }
}

/// A reader that shows the file with the boxes of an [`Inspection`] renamed to `free`.
#[derive(Debug)]
pub(crate) struct Guarded<R> {
    inner: R,
    position: u64,
    blanked: Vec<u64>,
}

impl<R> Guarded<R> {
    /// Wraps `inner`, positioned at its start.
    pub(crate) fn new(inner: R, inspection: Inspection) -> Self {
        Self { inner, position: 0, blanked: inspection.blanked }
    }
}

impl<R: Read> Read for Guarded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let (start, end) = (self.position, self.position + n as u64);
        // The few renamed type fields that overlap this read.
        let first = self.blanked.partition_point(|&at| at + 4 <= start);
        for &at in self.blanked[first..].iter().take_while(|&&at| at < end) {
            for (i, byte) in b"free".iter().enumerate() {
                let offset = at + i as u64;
                if (start..end).contains(&offset) {
                    buf[(offset - start) as usize] = *byte;
                }
            }
        }
        self.position = end;
        Ok(n)
    }
}

impl<R: Seek> Seek for Guarded<R> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        self.position = self.inner.seek(to)?;
        Ok(self.position)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::io::Cursor;

    use super::*;

    fn boxed(name: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut out = ((body.len() + 8) as u32).to_be_bytes().to_vec();
        out.extend_from_slice(name);
        out.extend_from_slice(body);
        out
    }

    fn ftyp() -> Vec<u8> {
        boxed(b"ftyp", b"isom\0\0\x02\0isomiso2avc1mp41")
    }

    fn check(bytes: &[u8]) -> Result<Inspection, StructureError> {
        inspect(&mut Cursor::new(bytes), bytes.len() as u64)
    }

    /// The 94-byte file that aborted the process: `moov/meta/hdlr` with a 2^64 - 1 byte 64-bit size.
    #[test]
    fn a_huge_box_inside_meta_is_refused_before_the_demuxer_sees_it() {
        let bytes = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../fixtures/video/malformed/meta_hdlr_huge.mp4"
        ))
        .unwrap();
        assert_eq!(bytes.len(), 94);
        // `meta` itself fits the file: it is renamed, and the walk never enters it.
        let inspection = check(&bytes).unwrap();
        assert_eq!(inspection.blanked.len(), 1);
        let mut guarded = Guarded::new(Cursor::new(&bytes), inspection);
        let mut seen = Vec::new();
        guarded.read_to_end(&mut seen).unwrap();
        assert_eq!(seen.windows(4).filter(|w| *w == b"meta").count(), 0);
        assert_eq!(seen.len(), bytes.len());
    }

    #[test]
    fn sizes_must_fit_their_parent() {
        let mut bytes = ftyp();
        let mut trak = boxed(b"tkhd", &[0; 84]);
        // A child declaring more than its parent holds.
        trak.extend_from_slice(&[0, 0, 1, 0]);
        trak.extend_from_slice(b"mdia");
        bytes.extend(boxed(b"moov", &boxed(b"trak", &trak)));
        let error = check(&bytes).unwrap_err();
        assert!(matches!(&error, StructureError::Malformed { name, .. } if name == "mdia"), "{error}");
        assert!(error.to_string().contains("only 8 remain in its parent `trak`"), "{error}");
    }

    #[test]
    fn a_top_level_box_past_the_end_is_a_truncation() {
        let mut bytes = ftyp();
        bytes.extend_from_slice(&1000u32.to_be_bytes());
        bytes.extend_from_slice(b"mdat");
        bytes.extend_from_slice(&[0; 100]);
        let error = check(&bytes).unwrap_err();
        assert!(matches!(error, StructureError::Truncated { declared: 1000, remaining: 108, .. }), "{error}");
    }

    #[test]
    fn impossible_sizes_are_refused() {
        for (size, large, problem) in [
            (4u32, None, "less than its own header"),
            (1, Some(12u64), "less than its own header"),
            (1, Some(u64::MAX), "but the file ends"),
        ] {
            let mut bytes = ftyp();
            bytes.extend_from_slice(&size.to_be_bytes());
            bytes.extend_from_slice(b"moov");
            if let Some(large) = large {
                bytes.extend_from_slice(&large.to_be_bytes());
            }
            bytes.extend_from_slice(&[0; 32]);
            let error = check(&bytes).unwrap_err().to_string();
            assert!(error.contains(problem), "{size} {large:?}: {error}");
        }
        // Size 0 means "to the end of the file" at the top level only.
        let mut bytes = ftyp();
        bytes.extend(boxed(b"moov", &[0, 0, 0, 0, b't', b'r', b'a', b'k']));
        assert!(check(&bytes).unwrap_err().to_string().contains("size 0 inside `moov`"));
        let mut bytes = ftyp();
        bytes.extend_from_slice(&[0, 0, 0, 0, b'm', b'd', b'a', b't', 1, 2, 3]);
        assert_eq!(check(&bytes).unwrap(), Inspection::default());
    }

    #[test]
    fn container_fields_must_fit() {
        let mut bytes = ftyp();
        let stsd = boxed(b"stsd", &[0, 0, 0, 0, 0, 0, 0, 1]);
        let mut stsd_body = stsd[8..].to_vec();
        stsd_body.extend(boxed(b"avc1", &[0; 20]));
        let stbl = boxed(b"stbl", &boxed(b"stsd", &stsd_body));
        let moov = boxed(b"moov", &boxed(b"trak", &boxed(b"mdia", &boxed(b"minf", &stbl))));
        bytes.extend(moov);
        let error = check(&bytes).unwrap_err().to_string();
        assert!(error.contains("box `avc1`") && error.contains("too few for its fields"), "{error}");
    }

    #[test]
    fn the_movie_header_is_capped() {
        let mut bytes = ftyp();
        bytes.extend_from_slice(&(MAX_HEADER_BYTES as u32 + 9).to_be_bytes());
        bytes.extend_from_slice(b"moov");
        bytes.resize(bytes.len() + MAX_HEADER_BYTES as usize + 1, 0);
        assert!(matches!(check(&bytes), Err(StructureError::HeaderTooLarge { .. })));
    }

    #[test]
    fn the_fixtures_pass_and_keep_their_bytes_outside_metadata() {
        for name in ["fixtures_640x480.mp4", "high_bframes_320x240.mp4", "audio_only.mp4", "mpeg4_part2.mp4"]
        {
            let path = format!("{}/../../fixtures/video/{name}", env!("CARGO_MANIFEST_DIR"));
            let bytes = std::fs::read(&path).unwrap();
            let inspection = check(&bytes).unwrap();
            let mut seen = Vec::new();
            Guarded::new(Cursor::new(&bytes), inspection.clone()).read_to_end(&mut seen).unwrap();
            let changed: Vec<usize> = (0..bytes.len()).filter(|&i| bytes[i] != seen[i]).collect();
            assert!(changed.len() <= 4 * inspection.blanked.len(), "{name}");
        }
    }

    #[test]
    fn reads_in_small_pieces_see_the_overlay() {
        let mut bytes = ftyp();
        bytes.extend(boxed(b"moov", &boxed(b"udta", &[7; 20])));
        let inspection = check(&bytes).unwrap();
        let mut guarded = Guarded::new(Cursor::new(&bytes), inspection);
        let mut seen = Vec::new();
        let mut piece = [0u8; 3];
        loop {
            let n = guarded.read(&mut piece).unwrap();
            if n == 0 {
                break;
            }
            seen.extend_from_slice(&piece[..n]);
        }
        let at = bytes.len() - 24;
        assert_eq!(&seen[at..at + 4], b"free");
        guarded.seek(SeekFrom::Start(at as u64 + 2)).unwrap();
        let mut two = [0u8; 2];
        guarded.read_exact(&mut two).unwrap();
        assert_eq!(&two, b"ee");
    }
}
