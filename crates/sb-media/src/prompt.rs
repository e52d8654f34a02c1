//! Prompts: 8 kHz mono 16-bit PCM WAV files, read once with hound at start and kept encoded
//! in both G.711 laws, and a playlist that plays them back to back in 20 ms frames with no
//! gap between prompts (a frame that straddles two prompts takes the end of one and the
//! start of the next).

use crate::g711;
use crate::negotiate::Codec;
use std::collections::VecDeque;
use std::path::Path;
use std::sync::Arc;
use thiserror::Error;

/// Samples in one 20 ms frame at 8 kHz.
pub const FRAME: usize = 160;

/// Why a prompt file could not be used.
#[derive(Debug, Error)]
pub enum PromptError {
    /// The file could not be read.
    #[error("{path}: cannot read: {source}")]
    Io {
        /// The file.
        path: String,
        /// What the system said.
        source: std::io::Error,
    },
    /// The file is no WAV file.
    #[error("{path}: not a WAV file: {why}")]
    NotWav {
        /// The file.
        path: String,
        /// What is wrong with it.
        why: String,
    },
    /// A WAV file of another format than 8 kHz mono 16-bit PCM.
    #[error("{path}: needs 8000 Hz mono 16-bit PCM, found {rate} Hz, {channels} channel(s), {bits}-bit {format}")]
    Format {
        /// The file.
        path: String,
        /// Its sample rate.
        rate: u32,
        /// Its channels.
        channels: u16,
        /// Its bits per sample.
        bits: u16,
        /// Its sample format.
        format: &'static str,
    },
    /// A WAV file with no samples.
    #[error("{path}: holds no audio")]
    Empty {
        /// The file.
        path: String,
    },
}

/// A prompt, decoded once and kept encoded in both G.711 laws.
#[derive(Debug)]
pub struct Prompt {
    /// Its name (the file name without `.wav`).
    pub name: String,
    /// Linear PCM at 8 kHz.
    pub pcm: Vec<i16>,
    /// The same, μ-law.
    pub ulaw: Vec<u8>,
    /// The same, A-law.
    pub alaw: Vec<u8>,
}

impl Prompt {
    /// A prompt from linear PCM at 8 kHz.
    pub fn from_samples(name: &str, pcm: Vec<i16>) -> Prompt {
        let ulaw = pcm.iter().map(|s| g711::linear_to_ulaw(*s)).collect();
        let alaw = pcm.iter().map(|s| g711::linear_to_alaw(*s)).collect();
        Prompt {
            name: name.to_string(),
            pcm,
            ulaw,
            alaw,
        }
    }

    /// Reads and checks a WAV file.
    pub fn load(path: &Path) -> Result<Prompt, PromptError> {
        let name = path.display().to_string();
        let file = std::fs::File::open(path).map_err(|source| PromptError::Io {
            path: name.clone(),
            source,
        })?;
        Self::read(&name, std::io::BufReader::new(file))
    }

    /// Reads and checks a WAV stream (`name` for its errors).
    pub fn read(name: &str, r: impl std::io::Read) -> Result<Prompt, PromptError> {
        let reader = hound::WavReader::new(r).map_err(|e| PromptError::NotWav {
            path: name.to_string(),
            why: e.to_string(),
        })?;
        let spec = reader.spec();
        let format = match spec.sample_format {
            hound::SampleFormat::Int => "integer",
            hound::SampleFormat::Float => "float",
        };
        if spec.sample_rate != 8000
            || spec.channels != 1
            || spec.bits_per_sample != 16
            || format != "integer"
        {
            return Err(PromptError::Format {
                path: name.to_string(),
                rate: spec.sample_rate,
                channels: spec.channels,
                bits: spec.bits_per_sample,
                format,
            });
        }
        let pcm: Vec<i16> = reader
            .into_samples::<i16>()
            .collect::<Result<_, _>>()
            .map_err(|e| PromptError::NotWav {
                path: name.to_string(),
                why: e.to_string(),
            })?;
        if pcm.is_empty() {
            return Err(PromptError::Empty {
                path: name.to_string(),
            });
        }
        Ok(Prompt::from_samples(name, pcm))
    }

    fn encoded(&self, codec: Codec) -> &[u8] {
        match codec {
            Codec::Pcmu => &self.ulaw,
            Codec::Pcma => &self.alaw,
        }
    }

    /// How long it plays.
    pub fn duration_ms(&self) -> u64 {
        self.pcm.len() as u64 / 8
    }
}

/// Prompts queued for one leg, drained 20 ms at a time.
#[derive(Debug)]
pub struct Playlist {
    queue: VecDeque<Arc<Prompt>>,
    offset: usize,
    frame: [u8; FRAME],
}

impl Default for Playlist {
    fn default() -> Self {
        Playlist {
            queue: VecDeque::new(),
            offset: 0,
            frame: [0; FRAME],
        }
    }
}

fn silence(codec: Codec) -> u8 {
    match codec {
        Codec::Pcmu => 0xFF,
        Codec::Pcma => 0xD5,
    }
}

impl Playlist {
    /// Queues a prompt after what is queued.
    pub fn push(&mut self, p: Arc<Prompt>) {
        self.queue.push_back(p);
    }

    /// Forgets every prompt queued.
    pub fn clear(&mut self) {
        self.queue.clear();
        self.offset = 0;
    }

    /// Whether nothing is left to play.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// How long what is queued has still to play.
    pub fn remaining_ms(&self) -> u64 {
        let total: u64 = self.queue.iter().map(|p| p.duration_ms()).sum();
        total.saturating_sub(self.offset as u64 / 8)
    }

    /// The next 20 ms, or `None` once everything queued has played. The last frame is
    /// padded with silence. No allocation.
    pub fn next_frame(&mut self, codec: Codec) -> Option<&[u8; FRAME]> {
        if self.queue.is_empty() {
            return None;
        }
        let mut filled = 0;
        while filled < FRAME {
            let Some(p) = self.queue.front() else { break };
            let src = p.encoded(codec);
            let take = (src.len() - self.offset).min(FRAME - filled);
            self.frame[filled..filled + take]
                .copy_from_slice(&src[self.offset..self.offset + take]);
            filled += take;
            self.offset += take;
            if self.offset >= src.len() {
                self.queue.pop_front();
                self.offset = 0;
            }
        }
        self.frame[filled..].fill(silence(codec));
        Some(&self.frame)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wav(rate: u32, channels: u16, bits: u16, samples: &[i16]) -> Vec<u8> {
        let spec = hound::WavSpec {
            channels,
            sample_rate: rate,
            bits_per_sample: bits,
            sample_format: hound::SampleFormat::Int,
        };
        let mut cur = std::io::Cursor::new(Vec::new());
        {
            let mut w = hound::WavWriter::new(&mut cur, spec).expect("writer");
            for s in samples {
                if bits == 16 {
                    w.write_sample(*s).expect("sample");
                } else {
                    w.write_sample(*s as i32).expect("sample");
                }
            }
            w.finalize().expect("finalize");
        }
        cur.into_inner()
    }

    #[test]
    fn loads_8khz_mono_16bit_and_rejects_the_rest_with_reasons() {
        let ok = Prompt::read("ok.wav", &wav(8000, 1, 16, &[0, 100, -100])[..]).expect("valid");
        assert_eq!(ok.pcm, [0, 100, -100]);
        assert_eq!(ok.ulaw.len(), 3);
        let e = Prompt::read("cd.wav", &wav(44100, 2, 16, &[0, 0])[..]).expect_err("wrong format");
        assert_eq!(
            e.to_string(),
            "cd.wav: needs 8000 Hz mono 16-bit PCM, found 44100 Hz, 2 channel(s), 16-bit integer"
        );
        assert!(Prompt::read("24.wav", &wav(8000, 1, 24, &[1])[..]).is_err());
        assert!(matches!(
            Prompt::read("x.wav", &b"RIFFnonsense"[..]),
            Err(PromptError::NotWav { .. })
        ));
        assert!(matches!(
            Prompt::read("e.wav", &wav(8000, 1, 16, &[])[..]),
            Err(PromptError::Empty { .. })
        ));
    }

    #[test]
    fn playlist_is_gapless_across_prompts() {
        let a: Vec<i16> = (0..250).map(|i| i * 10).collect();
        let b: Vec<i16> = (0..100).map(|i| -i * 10).collect();
        let mut pl = Playlist::default();
        pl.push(Arc::new(Prompt::from_samples("a", a.clone())));
        pl.push(Arc::new(Prompt::from_samples("b", b.clone())));
        assert_eq!(pl.remaining_ms(), 43, "350 samples at 8 kHz");
        let mut out = Vec::new();
        while let Some(f) = pl.next_frame(Codec::Pcmu) {
            out.extend_from_slice(f);
            if out.len() == FRAME {
                assert_eq!(pl.remaining_ms(), 23, "20 ms of the first prompt played");
            }
        }
        assert_eq!(pl.remaining_ms(), 0);
        assert_eq!(out.len(), 3 * FRAME, "350 samples fill three frames");
        let expected: Vec<u8> = a
            .iter()
            .chain(b.iter())
            .map(|s| g711::linear_to_ulaw(*s))
            .collect();
        assert_eq!(
            &out[..350],
            &expected[..],
            "the second prompt starts right where the first ends"
        );
        assert!(out[350..].iter().all(|x| *x == 0xFF), "padding is silence");
        assert!(pl.next_frame(Codec::Pcmu).is_none());
    }
}
