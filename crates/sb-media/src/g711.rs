//! G.711 mu-law and A-law (ITU-T G.711), sample by sample. Encoding uses the segment search
//! of the recommendation; decoding goes through 256-entry tables built at compile time, so
//! the per-packet path is a table lookup.

const BIAS: i32 = 0x84;
const CLIP: i32 = 32635;

/// 16-bit linear PCM to mu-law.
pub fn linear_to_ulaw(sample: i16) -> u8 {
    let mut s = sample as i32;
    let sign = if s < 0 {
        s = -s;
        0x80
    } else {
        0
    };
    s = s.min(CLIP) + BIAS;
    // The segment is the position of the highest set bit above bit 7.
    let exponent = match s {
        0x4000.. => 7,
        0x2000..=0x3FFF => 6,
        0x1000..=0x1FFF => 5,
        0x800..=0xFFF => 4,
        0x400..=0x7FF => 3,
        0x200..=0x3FF => 2,
        0x100..=0x1FF => 1,
        _ => 0,
    };
    let mantissa = (s >> (exponent + 3)) & 0x0F;
    !(sign | (exponent << 4) | mantissa) as u8
}

const fn ulaw_decode(u: u8) -> i16 {
    let u = !u;
    let sign = u & 0x80;
    let exponent = ((u >> 4) & 0x07) as i32;
    let mantissa = (u & 0x0F) as i32;
    let magnitude = (((mantissa << 3) + BIAS) << exponent) - BIAS;
    (if sign != 0 { -magnitude } else { magnitude }) as i16
}

/// 16-bit linear PCM to A-law.
pub fn linear_to_alaw(sample: i16) -> u8 {
    let s = sample as i32;
    let (sign, mag) = if s >= 0 { (0xD5, s) } else { (0x55, -s - 1) };
    let mag = mag.min(0x7FFF) >> 3;
    let seg = match mag {
        0..=0x1F => 0,
        0x20..=0x3F => 1,
        0x40..=0x7F => 2,
        0x80..=0xFF => 3,
        0x100..=0x1FF => 4,
        0x200..=0x3FF => 5,
        0x400..=0x7FF => 6,
        _ => 7,
    };
    let mantissa = if seg < 2 {
        (mag >> 1) & 0x0F
    } else {
        (mag >> seg) & 0x0F
    };
    (((seg << 4) | mantissa) ^ sign) as u8
}

const fn alaw_decode(a: u8) -> i16 {
    let a = a ^ 0x55;
    let seg = ((a >> 4) & 0x07) as i32;
    let mantissa = (a & 0x0F) as i32;
    let magnitude = if seg == 0 {
        (mantissa << 4) + 8
    } else {
        ((mantissa << 4) + 0x108) << (seg - 1)
    };
    (if a & 0x80 != 0 { magnitude } else { -magnitude }) as i16
}

const fn table(alaw: bool) -> [i16; 256] {
    let mut t = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = if alaw {
            alaw_decode(i as u8)
        } else {
            ulaw_decode(i as u8)
        };
        i += 1;
    }
    t
}

static ULAW: [i16; 256] = table(false);
static ALAW: [i16; 256] = table(true);

/// A μ-law code word to linear PCM.
pub fn ulaw_to_linear(u: u8) -> i16 {
    ULAW[u as usize]
}

/// An A-law code word to linear PCM.
pub fn alaw_to_linear(a: u8) -> i16 {
    ALAW[a as usize]
}

/// mu-law straight to A-law for legs that disagree, through linear.
pub fn ulaw_to_alaw(u: u8) -> u8 {
    linear_to_alaw(ulaw_to_linear(u))
}

/// An A-law code word to the μ-law one of the nearest level.
pub fn alaw_to_ulaw(a: u8) -> u8 {
    linear_to_ulaw(alaw_to_linear(a))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_codewords() {
        // Silence: mu-law 0xFF, A-law 0xD5 (G.711 tables).
        assert_eq!(linear_to_ulaw(0), 0xFF);
        assert_eq!(linear_to_alaw(0), 0xD5);
        assert_eq!(ulaw_to_linear(0xFF), 0);
        assert_eq!(alaw_to_linear(0xD5), 8);
        // Full scale.
        assert_eq!(linear_to_ulaw(i16::MAX), 0x80);
        assert_eq!(linear_to_ulaw(i16::MIN), 0x00);
        assert_eq!(ulaw_to_linear(0x80), 32124);
        assert_eq!(alaw_to_linear(0xAA), 32256);
        assert_eq!(linear_to_alaw(i16::MAX), 0xAA);
    }

    #[test]
    fn every_codeword_survives_decode_then_encode() {
        for c in 0..=255u8 {
            // mu-law has two zeros (0x7F and 0xFF); both decode to 0 and encode to 0xFF.
            let back = linear_to_ulaw(ulaw_to_linear(c));
            assert!(
                back == c || (c == 0x7F && back == 0xFF),
                "ulaw {c:#x} -> {back:#x}"
            );
            assert_eq!(linear_to_alaw(alaw_to_linear(c)), c, "alaw {c:#x}");
        }
    }

    #[test]
    fn quantisation_error_is_bounded() {
        for s in (-32768i32..=32767).step_by(7) {
            let s = s as i16;
            let u = ulaw_to_linear(linear_to_ulaw(s)) as i32;
            let a = alaw_to_linear(linear_to_alaw(s)) as i32;
            // Both laws keep the error under about 1/16 of the magnitude (plus a floor).
            let bound = (s as i32).abs() / 16 + 16;
            assert!((u - s as i32).abs() <= bound.max(132), "ulaw {s} -> {u}");
            assert!((a - s as i32).abs() <= bound.max(16), "alaw {s} -> {a}");
        }
    }
}
