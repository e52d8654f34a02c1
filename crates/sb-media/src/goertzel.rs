//! In-band DTMF detection (ITU-T Q.23/Q.24 tones) with the Goertzel algorithm, tuned
//! against talk-off: a digit needs one row and one column tone that stand well above the
//! other tones of their group, carry most of the signal's energy, have no strong second
//! harmonic (speech and music do), lie within the twist limits, and last two blocks.

const RATE: f32 = 8000.0;
/// 205 samples (25.6 ms): the classic block size that puts every DTMF tone near a bin.
pub const BLOCK: usize = 205;
const ROWS: [f32; 4] = [697.0, 770.0, 852.0, 941.0];
const COLS: [f32; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
const KEYS: [[char; 4]; 4] = [
    ['1', '2', '3', 'A'],
    ['4', '5', '6', 'B'],
    ['7', '8', '9', 'C'],
    ['*', '0', '#', 'D'],
];
/// 8 dB as a power ratio.
const DB8: f32 = 6.31;
/// Below this block energy (about -45 dBFS) nothing is a tone.
const MIN_ENERGY_PER_SAMPLE: f32 = 1.0e3;

fn coeff(f: f32) -> f32 {
    2.0 * (2.0 * std::f32::consts::PI * f / RATE).cos()
}

fn power(samples: &[f32], c: f32) -> f32 {
    let (mut s1, mut s2) = (0.0f32, 0.0f32);
    for &x in samples {
        let s0 = x + c * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    s1 * s1 + s2 * s2 - c * s1 * s2
}

/// Streams 8 kHz linear samples in, digits out.
#[derive(Debug)]
pub struct ToneDetector {
    block: Vec<f32>,
    row_c: [f32; 4],
    col_c: [f32; 4],
    row2_c: [f32; 4],
    last_block: Option<char>,
    reported: Option<char>,
}

impl Default for ToneDetector {
    fn default() -> Self {
        ToneDetector {
            block: Vec::with_capacity(BLOCK),
            row_c: ROWS.map(coeff),
            col_c: COLS.map(coeff),
            row2_c: ROWS.map(|f| coeff(2.0 * f)),
            last_block: None,
            reported: None,
        }
    }
}

fn strongest(p: &[f32; 4]) -> (usize, f32, f32) {
    let mut best = 0;
    for i in 1..4 {
        if p[i] > p[best] {
            best = i;
        }
    }
    let others = p
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != best)
        .map(|(_, v)| *v)
        .fold(0.0, f32::max);
    (best, p[best], others)
}

impl ToneDetector {
    /// Feeds samples; returns the digits whose tones began in them.
    pub fn push(&mut self, samples: &[i16], out: &mut Vec<char>) {
        for &s in samples {
            self.block.push(s as f32);
            if self.block.len() == BLOCK {
                let d = self.classify();
                self.block.clear();
                // Two blocks in a row make a digit; a block without it re-arms.
                if d.is_some() && d == self.last_block && self.reported != d {
                    if let Some(d) = d {
                        out.push(d);
                    }
                    self.reported = d;
                }
                if d.is_none() && self.last_block.is_none() {
                    self.reported = None;
                }
                self.last_block = d;
            }
        }
    }

    fn classify(&self) -> Option<char> {
        let b = &self.block;
        let energy: f32 = b.iter().map(|x| x * x).sum();
        if energy < MIN_ENERGY_PER_SAMPLE * BLOCK as f32 {
            return None;
        }
        let rows = self.row_c.map(|c| power(b, c));
        let cols = self.col_c.map(|c| power(b, c));
        let (r, rp, r_other) = strongest(&rows);
        let (c, cp, c_other) = strongest(&cols);
        // Each tone stands 8 dB above the others of its group.
        if rp < DB8 * r_other || cp < DB8 * c_other {
            return None;
        }
        // Twist within 8 dB either way.
        if rp > DB8 * cp || cp > DB8 * rp {
            return None;
        }
        // The two tones carry most of the energy: a pure sine gives P = E*N/2.
        let fraction = 2.0 * (rp + cp) / (BLOCK as f32 * energy);
        if fraction < 0.6 {
            return None;
        }
        // Speech has harmonics; a DTMF row tone has none to speak of.
        if power(b, self.row2_c[r]) * 10.0 > rp {
            return None;
        }
        Some(KEYS[r][c])
    }
}

/// Synthesises DTMF for tests and for sending digits in-band: `ms` of tone at `amp` per tone.
pub fn synthesize(digit: char, ms: u32, amp: f32) -> Vec<i16> {
    let pos = KEYS
        .iter()
        .enumerate()
        .find_map(|(r, row)| row.iter().position(|k| *k == digit).map(|c| (r, c)));
    let Some((r, c)) = pos else { return Vec::new() };
    let n = (RATE as u32 * ms / 1000) as usize;
    (0..n)
        .map(|i| {
            let t = i as f32 / RATE;
            let v = amp
                * ((2.0 * std::f32::consts::PI * ROWS[r] * t).sin()
                    + (2.0 * std::f32::consts::PI * COLS[c] * t).sin());
            (v * 32767.0) as i16
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::g711;

    fn detect(samples: &[i16]) -> String {
        let mut d = ToneDetector::default();
        let mut out = Vec::new();
        for chunk in samples.chunks(160) {
            d.push(chunk, &mut out);
        }
        out.into_iter().collect()
    }

    fn silence(ms: u32) -> Vec<i16> {
        vec![0; (8 * ms) as usize]
    }

    #[test]
    fn all_sixteen_digits_through_g711() {
        let keys = "123A456B789C*0#D";
        let mut s = Vec::new();
        for k in keys.chars() {
            s.extend(synthesize(k, 70, 0.25));
            s.extend(silence(60));
        }
        assert_eq!(detect(&s), keys);
        let ulaw: Vec<i16> = s
            .iter()
            .map(|x| g711::ulaw_to_linear(g711::linear_to_ulaw(*x)))
            .collect();
        assert_eq!(detect(&ulaw), keys);
        let alaw: Vec<i16> = s
            .iter()
            .map(|x| g711::alaw_to_linear(g711::linear_to_alaw(*x)))
            .collect();
        assert_eq!(detect(&alaw), keys);
    }

    #[test]
    fn a_long_press_is_one_digit_and_two_presses_are_two() {
        let mut s = synthesize('5', 600, 0.2);
        assert_eq!(detect(&s), "5");
        s.extend(silence(60));
        s.extend(synthesize('5', 80, 0.2));
        assert_eq!(detect(&s), "55");
    }

    #[test]
    fn no_talk_off_on_noise_single_tones_or_voiced_sounds() {
        let mut rng = sb_sim::Rng::new(7);
        let noise: Vec<i16> = (0..16_000)
            .map(|_| (rng.below(20_000) as i32 - 10_000) as i16)
            .collect();
        assert_eq!(detect(&noise), "");
        let tone: Vec<i16> = (0..8000)
            .map(|i| (8000.0 * (2.0 * std::f32::consts::PI * 697.0 * i as f32 / RATE).sin()) as i16)
            .collect();
        assert_eq!(detect(&tone), "");
        // A voiced vowel: a 140 Hz fundamental and its harmonics, gliding in pitch.
        let vowel: Vec<i16> = (0..24_000)
            .map(|i| {
                let t = i as f32 / RATE;
                let f0 = 140.0 + 30.0 * (t * 2.0).sin();
                (1..20)
                    .map(|h| {
                        (3000.0 / h as f32) * (2.0 * std::f32::consts::PI * f0 * h as f32 * t).sin()
                    })
                    .sum::<f32>() as i16
            })
            .collect();
        assert_eq!(detect(&vowel), "");
        assert_eq!(detect(&silence(1000)), "");
    }
}
