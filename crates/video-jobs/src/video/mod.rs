//! H.264 MP4 → RGB frames, for video jobs: the `mp4` crate demuxes, `openh264` (Cisco's decoder, built from the
//! crate's bundled source) decodes. The choice and its measurements are in `docs/jobs.md`.
//!
//! Everything here reads a client's file: every size is checked against the file before it is trusted, and
//! errors are sentences a user can act on ([`VideoError`]).
//!
//! ```no_run
//! use video_jobs::video::{Sampling, VideoFrames};
//!
//! // Every 10th frame of the clip, at most 100 of them, none over 40 Mpixels.
//! let sampling = Sampling { stride: 10, max_frames: Some(100) };
//! let mut frames = VideoFrames::open("clip.mp4".as_ref(), sampling, 40_000_000)?;
//! println!("{:?}, {} frames to process", frames.info(), frames.frames_total());
//! while let Some(f) = frames.next_frame()? {
//!     println!("frame {} at {} ms: {}x{}", f.index, f.timestamp_ms, f.frame.width(), f.frame.height());
//! }
//! # Ok::<(), video_jobs::video::VideoError>(())
//! ```

mod guard;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::fs::File;
use std::io::{BufReader, Seek, SeekFrom};
use std::path::Path;

use mp4::{MediaType, Mp4Reader, TrackType};
use openh264::OpenH264API;
use openh264::decoder::{DecodedYUV, Decoder, DecoderConfig, Flush};
use openh264::formats::YUVSource;
use pipeline_dag::stages::Frame;
use stream_protocol::http::VideoInfo;

use guard::Guarded;
pub use guard::{MAX_HEADER_BYTES, StructureError};

/// How many leading bytes must contain an `ftyp` box for an upload to be taken as an MP4 (SPEC §5).
pub const SNIFF_LEN: usize = 64;

/// Whether `head` (the first bytes of a file) holds an `ftyp` box type within its first [`SNIFF_LEN`] bytes.
pub fn looks_like_mp4(head: &[u8]) -> bool {
    head[..head.len().min(SNIFF_LEN)].windows(4).any(|w| w == b"ftyp")
}

/// Why a video cannot be (fully) decoded. The message is what the job's `error_message` says.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VideoError {
    /// The file cannot be read.
    #[error("Cannot read the uploaded file: {0}")]
    Io(#[from] std::io::Error),
    /// The MP4 structure cannot be parsed (the demuxer's message).
    #[error("Not a readable MP4 file: {0}")]
    Container(String),
    /// The box tree is malformed: a size that cannot be, or a movie header over [`MAX_HEADER_BYTES`]. Checked
    /// before the demuxer reads the file.
    #[error("Not a readable MP4 file: {0}")]
    Structure(StructureError),
    /// The file ends inside a box: it was cut off (the demuxer's message).
    #[error("The MP4 is truncated or damaged: {0}")]
    Truncated(String),
    /// No track is a video track.
    #[error("The MP4 has no video track")]
    NoVideoTrack,
    /// The video track uses another codec (its name, or its sample entry's four-character code).
    #[error("The video track is {0}, not H.264: only H.264 video is supported")]
    NotH264(String),
    /// The frames are larger than allowed.
    #[error("The video is {width}x{height}, over the limit of {max_pixels} pixels per frame")]
    TooLarge {
        /// Width of the video track.
        width: u32,
        /// Height of the video track.
        height: u32,
        /// The limit.
        max_pixels: u64,
    },
    /// A sample cannot be read or split into NAL units (1-based sample number).
    #[error("The MP4 is truncated or damaged at frame {sample} of {samples}: {detail}")]
    Damaged {
        /// The sample, 1-based.
        sample: u32,
        /// Samples in the track.
        samples: u32,
        /// What is wrong.
        detail: String,
    },
    /// The decoder refused the bitstream.
    #[error("The H.264 video cannot be decoded at frame {sample}: {detail}")]
    Decode {
        /// The sample, 1-based.
        sample: u32,
        /// The decoder's message.
        detail: String,
    },
}

/// One sampled frame of the video.
#[derive(Debug)]
pub struct VideoFrame {
    /// Position in the video, 0-based, in presentation order.
    pub index: u64,
    /// Presentation time from the start of the video.
    pub timestamp_ms: u64,
    /// The pixels.
    pub frame: Frame,
}

/// Which frames to return: every `stride`-th, at most `max_frames`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sampling {
    /// Every `stride`-th frame, starting with frame 0 (1: every frame; 0 is taken as 1).
    pub stride: u32,
    /// At most this many frames (`None`: no limit).
    pub max_frames: Option<u32>,
}

impl Sampling {
    /// How many frames this sampling returns from a video of `frames` frames.
    pub fn count(self, frames: u64) -> u64 {
        let sampled = frames.div_ceil(u64::from(self.stride.max(1)));
        self.max_frames.map_or(sampled, |max| sampled.min(u64::from(max)))
    }
}

/// Decodes an MP4's H.264 track frame by frame, returning the sampled ones as RGB.
pub struct VideoFrames {
    reader: Mp4Reader<Guarded<BufReader<File>>>,
    file_len: u64,
    track_id: u32,
    timescale: u64,
    samples: u32,
    next_sample: u32,
    sample_sizes: SampleSizes,
    avc: AvcToAnnexB,
    decoder: Decoder,
    /// Presentation times of samples fed to the decoder whose picture has not come out yet.
    pending_pts: BinaryHeap<Reverse<u64>>,
    first_pts: Option<u64>,
    decoded: u64,
    returned: u64,
    ready: VecDeque<VideoFrame>,
    flushed: bool,
    sampling: Sampling,
    max_pixels: u64,
    packet: Vec<u8>,
    info: VideoInfo,
}

impl std::fmt::Debug for VideoFrames {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VideoFrames")
            .field("info", &self.info)
            .field("next_sample", &self.next_sample)
            .finish()
    }
}

impl VideoFrames {
    /// Opens `path`, finds its H.264 track and prepares the decoder.
    pub fn open(path: &Path, sampling: Sampling, max_pixels: u64) -> Result<Self, VideoError> {
        let file = File::open(path)?;
        let file_len = file.metadata()?.len();
        // Every box size is checked against its parent and the file before the demuxer, which allocates from
        // them, reads any; metadata it does not need is hidden from it (see `guard`).
        let mut file = BufReader::new(file);
        let inspection = guard::inspect(&mut file, file_len).map_err(|error| match error {
            StructureError::Truncated { .. } => VideoError::Truncated(error.to_string()),
            other => VideoError::Structure(other),
        })?;
        file.seek(SeekFrom::Start(0))?;
        let reader = Mp4Reader::read_header(Guarded::new(file, inspection), file_len).map_err(|e| {
            let detail = e.to_string();
            // A box running past the end of the file: the upload was cut off.
            if detail.contains("larger size than it") || matches!(e, mp4::Error::IoError(_)) {
                VideoError::Truncated(detail)
            } else {
                VideoError::Container(detail)
            }
        })?;
        let video = reader
            .tracks()
            .values()
            .filter(|t| matches!(t.track_type(), Ok(TrackType::Video)))
            .min_by_key(|t| t.track_id())
            .ok_or(VideoError::NoVideoTrack)?;
        match video.media_type() {
            Ok(MediaType::H264) => {}
            Ok(other) => return Err(VideoError::NotH264(other.to_string())),
            Err(_) => {
                let codec =
                    video.box_type().map_or_else(|_| "an unsupported codec".to_owned(), |b| b.to_string());
                return Err(VideoError::NotH264(codec));
            }
        }
        let (width, height) = (u32::from(video.width()), u32::from(video.height()));
        if u64::from(width) * u64::from(height) > max_pixels {
            return Err(VideoError::TooLarge { width, height, max_pixels });
        }
        let avc = AvcToAnnexB::for_track(video)?;
        let samples = video.sample_count();
        let timescale = u64::from(video.timescale()).max(1);
        let info = VideoInfo {
            width,
            height,
            duration_ms: video.duration().as_millis() as u64,
            frames: u64::from(samples),
        };
        let stsz = &video.trak.mdia.minf.stbl.stsz;
        let sample_sizes = SampleSizes { fixed: stsz.sample_size, sizes: stsz.sample_sizes.clone() };
        let track_id = video.track_id();
        let config = DecoderConfig::new().flush_after_decode(Flush::NoFlush);
        let decoder = Decoder::with_api_config(OpenH264API::from_source(), config)
            .map_err(|e| VideoError::Decode { sample: 0, detail: e.to_string() })?;
        Ok(Self {
            reader,
            file_len,
            track_id,
            timescale,
            samples,
            next_sample: 1,
            sample_sizes,
            avc,
            decoder,
            pending_pts: BinaryHeap::new(),
            first_pts: None,
            decoded: 0,
            returned: 0,
            ready: VecDeque::new(),
            flushed: false,
            sampling,
            max_pixels,
            packet: Vec::new(),
            info,
        })
    }

    /// What the container says about the video.
    pub fn info(&self) -> VideoInfo {
        self.info
    }

    /// How many frames [`next_frame`](Self::next_frame) will return, by the container's frame count.
    pub fn frames_total(&self) -> u64 {
        self.sampling.count(self.info.frames)
    }

    /// The next sampled frame, `None` at the end (or once `max_frames` were returned).
    pub fn next_frame(&mut self) -> Result<Option<VideoFrame>, VideoError> {
        loop {
            if self.sampling.max_frames.is_some_and(|max| self.returned >= u64::from(max)) {
                return Ok(None);
            }
            if let Some(frame) = self.ready.pop_front() {
                self.returned += 1;
                return Ok(Some(frame));
            }
            if self.next_sample > self.samples {
                if self.flushed {
                    return Ok(None);
                }
                self.flushed = true;
                let sample = self.samples;
                let (first_index, stride, max_pixels) = (self.decoded, self.stride(), self.max_pixels);
                let remaining = self
                    .decoder
                    .flush_remaining()
                    .map_err(|e| VideoError::Decode { sample, detail: e.to_string() })?
                    .iter()
                    .enumerate()
                    .map(|(i, picture)| {
                        Picture::copy(picture, (first_index + i as u64).is_multiple_of(stride), max_pixels)
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|detail| VideoError::Decode { sample, detail })?;
                for picture in remaining {
                    self.push_picture(picture);
                }
                continue;
            }
            self.feed_next_sample()?;
        }
    }

    fn feed_next_sample(&mut self) -> Result<(), VideoError> {
        let sample = self.next_sample;
        self.next_sample += 1;
        let damaged = |detail: String| VideoError::Damaged { sample, samples: self.samples, detail };
        // A lying sample table must not make us allocate more than the file holds.
        let size = self.sample_sizes.get(sample).ok_or_else(|| damaged("missing sample size".into()))?;
        if u64::from(size) > self.file_len {
            return Err(damaged(format!("sample of {size} bytes in a file of {} bytes", self.file_len)));
        }
        let data = match self.reader.read_sample(self.track_id, sample) {
            Ok(Some(data)) => data,
            Ok(None) => return Ok(()),
            Err(e) => return Err(damaged(e.to_string())),
        };
        let pts = data.start_time.saturating_add_signed(i64::from(data.rendering_offset));
        self.pending_pts.push(Reverse(pts));
        self.avc.convert(&data.bytes, &mut self.packet).map_err(damaged)?;
        // Only sampled pictures are converted to RGB; the others are decoded (later frames refer to them) and
        // counted. The picture borrows the decoder, so it is copied out before `self` is touched again.
        let wanted = self.decoded.is_multiple_of(self.stride());
        let picture = match self.decoder.decode(&self.packet) {
            Ok(Some(picture)) => Picture::copy(&picture, wanted, self.max_pixels)
                .map_err(|detail| VideoError::Decode { sample, detail })?,
            Ok(None) => return Ok(()),
            Err(e) => return Err(VideoError::Decode { sample, detail: e.to_string() }),
        };
        self.push_picture(picture);
        Ok(())
    }

    fn stride(&self) -> u64 {
        u64::from(self.sampling.stride.max(1))
    }

    fn push_picture(&mut self, picture: Option<Picture>) {
        let index = self.decoded;
        self.decoded += 1;
        // Pictures come out in presentation order, so each one has the smallest pending presentation time.
        let pts = self.pending_pts.pop().map_or(0, |Reverse(pts)| pts);
        let first = *self.first_pts.get_or_insert(pts);
        let Some(picture) = picture else { return };
        debug_assert!(index.is_multiple_of(self.stride()), "only sampled pictures are converted");
        if let Some(frame) = Frame::from_rgb(picture.width, picture.height, picture.rgb) {
            let timestamp_ms = pts.saturating_sub(first).saturating_mul(1000) / self.timescale;
            self.ready.push_back(VideoFrame { index, timestamp_ms, frame });
        }
    }
}

/// A decoded picture's RGB pixels.
struct Picture {
    width: u32,
    height: u32,
    rgb: Vec<u8>,
}

impl Picture {
    /// Copies a decoded picture out as RGB if it is `wanted` (the decoder's buffer is only valid until its next
    /// call); `None` for pictures that are skipped or empty.
    fn copy(picture: &DecodedYUV<'_>, wanted: bool, max_pixels: u64) -> Result<Option<Self>, String> {
        let (width, height) = picture.dimensions();
        if !wanted || width == 0 || height == 0 {
            return Ok(None);
        }
        if (width as u64).saturating_mul(height as u64) > max_pixels {
            return Err(format!("{width}x{height} picture is over the limit of {max_pixels} pixels"));
        }
        let mut rgb = vec![0u8; width * height * 3];
        picture.write_rgb8(&mut rgb);
        Ok(Some(Self { width: width as u32, height: height as u32, rgb }))
    }
}

/// Sample sizes from the `stsz` box: one fixed size, or one per sample.
#[derive(Debug)]
struct SampleSizes {
    fixed: u32,
    sizes: Vec<u32>,
}

impl SampleSizes {
    /// The size of 1-based `sample`.
    fn get(&self, sample: u32) -> Option<u32> {
        if self.fixed > 0 {
            return Some(self.fixed);
        }
        self.sizes.get(sample.checked_sub(1)? as usize).copied()
    }
}

/// MP4 stores H.264 as length-prefixed NAL units with the parameter sets in the `avcC` box; openh264 wants an
/// Annex B byte stream (start codes, parameter sets in band). Parameter sets are put before every keyframe, so
/// the decoder can start at any of them.
#[derive(Debug)]
struct AvcToAnnexB {
    length_size: usize,
    parameter_sets: Vec<u8>,
}

impl AvcToAnnexB {
    const START: [u8; 4] = [0, 0, 0, 1];

    fn for_track(track: &mp4::Mp4Track) -> Result<Self, VideoError> {
        let avcc = &track
            .trak
            .mdia
            .minf
            .stbl
            .stsd
            .avc1
            .as_ref()
            .ok_or_else(|| VideoError::NotH264("missing its avcC configuration".into()))?
            .avcc;
        let length_size = usize::from(avcc.length_size_minus_one & 0b11) + 1;
        let mut parameter_sets = Vec::new();
        for set in avcc.sequence_parameter_sets.iter().chain(&avcc.picture_parameter_sets) {
            parameter_sets.extend_from_slice(&Self::START);
            parameter_sets.extend_from_slice(&set.bytes);
        }
        Ok(Self { length_size, parameter_sets })
    }

    /// Rewrites one sample into `out` (cleared first).
    fn convert(&self, mut sample: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
        out.clear();
        let mut wrote_parameter_sets = false;
        while !sample.is_empty() {
            if sample.len() < self.length_size {
                return Err("NAL unit length cut short".into());
            }
            let (len, rest) = sample.split_at(self.length_size);
            let len = len.iter().fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
            if len > rest.len() {
                return Err(format!("NAL unit of {len} bytes with {} left in the sample", rest.len()));
            }
            let (nal, rest) = rest.split_at(len);
            sample = rest;
            let Some(&header) = nal.first() else { continue };
            // An IDR slice: make sure the parameter sets precede it.
            if header & 0x1F == 5 && !wrote_parameter_sets {
                out.extend_from_slice(&self.parameter_sets);
                wrote_parameter_sets = true;
            }
            out.extend_from_slice(&Self::START);
            out.extend_from_slice(nal);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn sniffing_wants_ftyp_in_the_first_64_bytes() {
        let mut head = vec![0u8; 8];
        head[4..8].copy_from_slice(b"ftyp");
        assert!(looks_like_mp4(&head));
        assert!(!looks_like_mp4(b"\xFF\xD8\xFF\xE0 not a video"));
        assert!(!looks_like_mp4(b""));
        let mut late = vec![0u8; 100];
        late[70..74].copy_from_slice(b"ftyp");
        assert!(!looks_like_mp4(&late));
    }

    #[test]
    fn sampling_counts_frames() {
        let s = |stride, max_frames| Sampling { stride, max_frames };
        assert_eq!(s(1, None).count(50), 50);
        assert_eq!(s(10, None).count(50), 5);
        assert_eq!(s(7, None).count(50), 8);
        assert_eq!(s(7, Some(3)).count(50), 3);
        assert_eq!(s(1, Some(100)).count(50), 50);
        assert_eq!(s(1, None).count(0), 0);
    }

    #[test]
    fn annex_b_conversion_checks_lengths_and_puts_parameter_sets_before_keyframes() {
        let avc = AvcToAnnexB {
            length_size: 4,
            parameter_sets: vec![0, 0, 0, 1, 0x67, 0xAA, 0, 0, 0, 1, 0x68, 0xBB],
        };
        let mut out = Vec::new();
        avc.convert(&[0, 0, 0, 2, 0x65, 0x01, 0, 0, 0, 1, 0x41], &mut out).unwrap();
        assert_eq!(
            out,
            [0, 0, 0, 1, 0x67, 0xAA, 0, 0, 0, 1, 0x68, 0xBB, 0, 0, 0, 1, 0x65, 0x01, 0, 0, 0, 1, 0x41]
        );
        avc.convert(&[0, 0, 0, 1, 0x41], &mut out).unwrap();
        assert_eq!(out, [0, 0, 0, 1, 0x41]);
        assert!(avc.convert(&[0, 0, 0, 9, 0x41], &mut out).is_err());
        assert!(avc.convert(&[0, 0], &mut out).is_err());
    }
}

#[cfg(test)]
mod robustness {
    #![allow(clippy::unwrap_used)]

    use proptest::prelude::*;

    use super::*;

    fn fixture() -> Vec<u8> {
        std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/video/fixtures_640x480.mp4"))
            .unwrap()
    }

    /// Decodes every frame of `bytes`; `Err` is fine, a panic is not.
    fn decode(bytes: &[u8]) -> Result<u64, VideoError> {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), bytes).unwrap();
        let mut frames = VideoFrames::open(file.path(), Sampling { stride: 7, max_frames: None }, 4_000_000)?;
        let mut n = 0;
        while frames.next_frame()?.is_some() {
            n += 1;
        }
        Ok(n)
    }

    #[test]
    fn the_fixture_decodes_to_eight_sampled_frames() {
        assert_eq!(decode(&fixture()).unwrap(), 8);
    }

    /// High profile with B-frames (what phones record): pictures come out of the decoder in presentation
    /// order, each with its own timestamp, though the file stores them in decoding order.
    #[test]
    fn high_profile_with_b_frames_decodes_in_presentation_order() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/video/high_bframes_320x240.mp4");
        let mut frames =
            VideoFrames::open(path.as_ref(), Sampling { stride: 1, max_frames: None }, 1 << 20).unwrap();
        assert_eq!(frames.info().frames, 50);
        let (mut seen, mut cuts, mut previous): (Vec<_>, Vec<_>, Option<Frame>) =
            (Vec::new(), Vec::new(), None);
        while let Some(f) = frames.next_frame().unwrap() {
            assert_eq!((f.frame.width(), f.frame.height()), (320, 240));
            seen.push((f.index, f.timestamp_ms));
            // The clip shows five still photos, 10 frames each: the picture changes exactly at 10, 20, 30, 40.
            if let Some(previous) = &previous {
                let diff = previous
                    .rgb()
                    .iter()
                    .zip(f.frame.rgb())
                    .map(|(a, b)| u64::from(a.abs_diff(*b)))
                    .sum::<u64>();
                if diff / previous.rgb().len() as u64 > 10 {
                    cuts.push(f.index);
                }
            }
            previous = Some(f.frame);
        }
        assert_eq!(seen, (0..50).map(|i| (i, i * 100)).collect::<Vec<_>>());
        assert_eq!(cuts, [10, 20, 30, 40]);
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 128, failure_persistence: None, ..ProptestConfig::default() })]

        /// Damaged uploads: bytes flipped anywhere (box headers, sample tables, the H.264 bitstream) and the
        /// file cut at any point. Every outcome is a frame count or a `VideoError`.
        #[test]
        fn damaged_mp4s_never_panic(
            flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
            cut in prop::option::of(any::<prop::sample::Index>()),
        ) {
            let mut bytes = fixture();
            for (at, value) in flips {
                let i = at.index(bytes.len());
                bytes[i] = value;
            }
            if let Some(cut) = cut {
                bytes.truncate(cut.index(bytes.len()));
            }
            let _ = decode(&bytes);
        }

        /// Lying box sizes, the input that once aborted the process: any box's 32-bit size, or a 64-bit size
        /// written over its header, set to anything from 0 to 2^64 - 1. Checked against the parent before the
        /// demuxer allocates, so every outcome is a frame count or a `VideoError`.
        #[test]
        fn lying_box_sizes_never_abort(
            at in any::<prop::sample::Index>(),
            size in prop_oneof![Just(0u64), Just(1), Just(7), Just(u64::from(u32::MAX)), Just(u64::MAX), any::<u64>()],
            large in any::<bool>(),
        ) {
            let mut bytes = fixture();
            let boxes = box_offsets(&bytes);
            let offset = boxes[at.index(boxes.len())];
            if large && offset + 16 <= bytes.len() {
                bytes[offset..offset + 4].copy_from_slice(&1u32.to_be_bytes());
                bytes[offset + 8..offset + 16].copy_from_slice(&size.to_be_bytes());
            } else {
                bytes[offset..offset + 4].copy_from_slice(&(size as u32).to_be_bytes());
            }
            let _ = decode(&bytes);
        }
    }

    /// Where every box of the fixture starts, descending into the containers of its movie header.
    fn box_offsets(bytes: &[u8]) -> Vec<usize> {
        fn walk(bytes: &[u8], start: usize, end: usize, out: &mut Vec<usize>) {
            let mut at = start;
            while at + 8 <= end {
                let size = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
                let name = &bytes[at + 4..at + 8];
                out.push(at);
                let skip = match name {
                    b"moov" | b"trak" | b"mdia" | b"minf" | b"stbl" | b"dinf" | b"edts" | b"udta" => Some(8),
                    b"stsd" | b"dref" => Some(16),
                    b"avc1" => Some(86),
                    _ => None,
                };
                if let Some(skip) = skip {
                    walk(bytes, at + skip, at + size, out);
                }
                if size < 8 {
                    break;
                }
                at += size;
            }
        }
        let mut out = Vec::new();
        walk(bytes, 0, bytes.len(), &mut out);
        out
    }

    #[test]
    fn every_box_of_the_fixture_is_reached_by_the_size_mutations() {
        let offsets = box_offsets(&fixture());
        assert!(offsets.len() > 20, "{}", offsets.len());
    }
}
