//! The one-pass check behind [`check_json`](super::check_json): a JSON validator
//! that also checks UTF-8 and nesting as it goes, so an accepted payload is read
//! once.
//!
//! It accepts exactly what serde_json accepts as one value (the grammar of RFC 8259;
//! `\u` escapes are not checked for surrogates, as serde_json does not when it
//! skips a value), in UTF-8, nested at most [`MAX_DEPTH`] deep. It only answers
//! yes or no: why a payload is refused is worked out by the caller, on the
//! refusal's path alone.
//!
//! Nesting is kept in a fixed array, never on the call stack.

use super::MAX_DEPTH;

/// Whether `bytes` is one JSON value, in UTF-8, nested at most [`MAX_DEPTH`] deep.
pub(super) fn is_valid_json(bytes: &[u8]) -> bool {
    Scanner { bytes, at: 0 }.document().is_some()
}

/// Bytes that end the fast run through a string: the closing quote, an escape,
/// a control character (which JSON forbids unescaped) and the start of a non-ASCII
/// character (which must be checked as UTF-8).
const STOPS_A_STRING: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = b < 0x20 || b >= 0x80 || b == b'"' as usize || b == b'\\' as usize;
        b += 1;
    }
    table
};

/// An open array or object.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Frame {
    Array,
    Object,
}

struct Scanner<'a> {
    bytes: &'a [u8],
    /// The next byte to read.
    at: usize,
}

/// `None` is "not valid": the scanner stops at the first fault.
type Valid = Option<()>;

impl Scanner<'_> {
    fn document(&mut self) -> Valid {
        let mut open = [Frame::Array; MAX_DEPTH];
        let mut depth = 0;
        'value: loop {
            // A value starts here: a scalar, or a container that is opened.
            self.skip_whitespace();
            match self.peek()? {
                b @ (b'[' | b'{') => {
                    *open.get_mut(depth)? = if b == b'[' {
                        Frame::Array
                    } else {
                        Frame::Object
                    };
                    depth += 1;
                    self.at += 1;
                    self.skip_whitespace();
                    match (b, self.peek()?) {
                        (b'[', b']') | (b'{', b'}') => {
                            self.at += 1;
                            depth -= 1;
                        }
                        (b'[', _) => continue 'value,
                        _ => {
                            self.member_key()?;
                            continue 'value;
                        }
                    }
                }
                b'"' => self.string()?,
                b'-' | b'0'..=b'9' => self.number()?,
                b't' => self.literal(b"true")?,
                b'f' => self.literal(b"false")?,
                b'n' => self.literal(b"null")?,
                _ => return None,
            }
            // A value ended: what follows is a comma, or closes containers.
            loop {
                self.skip_whitespace();
                if depth == 0 {
                    return (self.at == self.bytes.len()).then_some(());
                }
                let frame = open[depth - 1];
                match (frame, self.peek()?) {
                    (_, b',') => {
                        self.at += 1;
                        if frame == Frame::Object {
                            self.skip_whitespace();
                            self.member_key()?;
                        }
                        continue 'value;
                    }
                    (Frame::Array, b']') | (Frame::Object, b'}') => {
                        self.at += 1;
                        depth -= 1;
                    }
                    _ => return None,
                }
            }
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\n' | b'\t' | b'\r') = self.peek() {
            self.at += 1;
        }
    }

    /// `"key":` of an object member, at its opening quote.
    fn member_key(&mut self) -> Valid {
        (self.peek()? == b'"').then_some(())?;
        self.string()?;
        self.skip_whitespace();
        (self.peek()? == b':').then_some(())?;
        self.at += 1;
        Some(())
    }

    /// A string, from its opening quote to past its closing one.
    fn string(&mut self) -> Valid {
        self.at += 1;
        loop {
            self.skip_plain_words();
            while !STOPS_A_STRING[usize::from(*self.bytes.get(self.at)?)] {
                self.at += 1;
            }
            match self.bytes[self.at] {
                b'"' => {
                    self.at += 1;
                    return Some(());
                }
                b'\\' => self.escape()?,
                b if b >= 0x80 => self.utf8_char()?,
                _ => return None,
            }
        }
    }

    /// Skips eight bytes at a time while none of them stops a string (see
    /// [`STOPS_A_STRING`]), and then to the first that does, if it is in the word.
    /// Long strings (base64 data, text) are most of many payloads.
    fn skip_plain_words(&mut self) {
        const ONES: u64 = u64::from_le_bytes([0x01; 8]);
        const HIGH_BITS: u64 = u64::from_le_bytes([0x80; 8]);
        // The high bit of each byte under `x - ONES * n & !x` is set where that byte
        // is below n (n <= 0x80); borrows can mark bytes after the first marked one,
        // never before it.
        let below = |x: u64, n: u8| x.wrapping_sub(ONES * u64::from(n)) & !x;
        while let Some(word) = self.bytes.get(self.at..self.at + 8) {
            let word = u64::from_le_bytes(word.try_into().expect("eight bytes"));
            let stops = (below(word ^ (ONES * u64::from(b'"')), 1)
                | below(word ^ (ONES * u64::from(b'\\')), 1)
                | below(word, 0x20)
                | word)
                & HIGH_BITS;
            if stops != 0 {
                self.at += stops.trailing_zeros() as usize / 8;
                return;
            }
            self.at += 8;
        }
    }

    /// `\"`, `\\`, `\/`, `\b`, `\f`, `\n`, `\r`, `\t` or `\u` and four hex digits.
    fn escape(&mut self) -> Valid {
        let code = *self.bytes.get(self.at + 1)?;
        self.at += 2;
        match code {
            b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => Some(()),
            b'u' => {
                let hex = self.bytes.get(self.at..self.at + 4)?;
                self.at += 4;
                hex.iter().all(u8::is_ascii_hexdigit).then_some(())
            }
            _ => None,
        }
    }

    /// One non-ASCII character, which must be well-formed UTF-8.
    fn utf8_char(&mut self) -> Valid {
        let len = match self.bytes[self.at] {
            0xC2..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF4 => 4,
            _ => return None,
        };
        let char = self.bytes.get(self.at..self.at + len)?;
        std::str::from_utf8(char).ok()?;
        self.at += len;
        Some(())
    }

    /// `-`? then `0` or digits not starting with `0`, then `.digits`?, then
    /// `e`/`E`, a sign and digits?
    fn number(&mut self) -> Valid {
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        match self.peek()? {
            b'0' => self.at += 1,
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        if self.peek() == Some(b'.') {
            self.at += 1;
            self.some_digits()?;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.at += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.at += 1;
            }
            self.some_digits()?;
        }
        Some(())
    }

    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.peek() {
            self.at += 1;
        }
    }

    /// At least one digit.
    fn some_digits(&mut self) -> Valid {
        let start = self.at;
        self.digits();
        (self.at > start).then_some(())
    }

    fn literal(&mut self, word: &[u8]) -> Valid {
        self.bytes[self.at..].starts_with(word).then_some(())?;
        self.at += word.len();
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::diagnose;
    use super::*;

    /// The one pass must accept exactly what the three checks accept.
    fn agrees(doc: &[u8]) {
        assert_eq!(
            is_valid_json(doc),
            diagnose(doc).is_ok(),
            "{:?}",
            String::from_utf8_lossy(doc)
        );
    }

    const SEEDS: &[&[u8]] = &[
        br#"{"a": [1, -2.5e+3, true, false, null, {"b": "c\"\\\/\b\f\n\r\t\u00e9"}]}"#,
        br#"[0, -0, 0.5, 1E9, 12e-3, "", {}, [], [[]], {"": {}}]"#,
        "\"caf\u{e9} \u{2603} \u{1f980} \\ud83e\\udd80\"".as_bytes(),
        b" \t\r\n 42 \n",
        b"\"\\uD800\"",
    ];

    /// Bytes that matter to one rule or another of the grammar or of UTF-8.
    const INTERESTING: &[u8] = &[
        b'"', b'\\', b'[', b']', b'{', b'}', b',', b':', b' ', b'\n', b'0', b'1', b'-', b'+', b'.',
        b'e', b'E', b'u', b'a', b'F', b'n', b't', b'x', b'/', 0x00, 0x1f, 0x7f, 0x80, 0xbf, 0xc0,
        0xc3, 0xe0, 0xed, 0xf0, 0xf4, 0xf5, 0xff,
    ];

    #[test]
    fn every_one_byte_change_of_valid_documents_is_judged_as_the_full_check_judges_it() {
        for seed in SEEDS {
            agrees(seed);
            for at in 0..=seed.len() {
                agrees(&seed[..at]);
                for &b in INTERESTING {
                    let mut inserted = seed.to_vec();
                    inserted.insert(at, b);
                    agrees(&inserted);
                    if at < seed.len() {
                        let mut replaced = seed.to_vec();
                        replaced[at] = b;
                        agrees(&replaced);
                    }
                }
                if at < seed.len() {
                    let mut removed = seed.to_vec();
                    removed.remove(at);
                    agrees(&removed);
                }
            }
        }
    }

    #[test]
    fn random_short_documents_are_judged_as_the_full_check_judges_them() {
        let mut rng = fastrand::Rng::with_seed(0x6775_7374);
        for _ in 0..200_000 {
            let len = rng.usize(0..24);
            let doc: Vec<u8> = (0..len)
                .map(|_| INTERESTING[rng.usize(..INTERESTING.len())])
                .collect();
            agrees(&doc);
        }
    }

    #[test]
    fn a_byte_that_ends_a_plain_run_is_found_wherever_it_falls_in_a_word() {
        let plain = b"abcdefghijklmnopqrstuvwx";
        for at in 0..plain.len() {
            for &b in INTERESTING {
                let mut doc = b"[\"".to_vec();
                doc.extend(plain);
                doc[2 + at] = b;
                doc.extend(b"\"]");
                agrees(&doc);
            }
            for char in ["\u{e9}", "\u{2603}", "\u{1f980}", "\\n", "\\u00e9"] {
                let mut doc = b"[\"".to_vec();
                doc.extend(&plain[..at]);
                doc.extend(char.as_bytes());
                doc.extend(&plain[at..]);
                doc.extend(b"\"]");
                assert!(is_valid_json(&doc), "{}", String::from_utf8_lossy(&doc));
            }
        }
    }

    #[test]
    fn nesting_is_counted_for_arrays_and_objects_alike() {
        for (open, close) in [("[", "]"), ("{\"k\":", "}")] {
            for levels in [MAX_DEPTH - 1, MAX_DEPTH, MAX_DEPTH + 1] {
                let doc = format!("{}0{}", open.repeat(levels), close.repeat(levels));
                assert_eq!(
                    is_valid_json(doc.as_bytes()),
                    levels <= MAX_DEPTH,
                    "{levels}"
                );
                agrees(doc.as_bytes());
            }
        }
        let empty_at_the_limit = format!("{}[]{}", "[".repeat(999), "]".repeat(999));
        assert!(is_valid_json(empty_at_the_limit.as_bytes()));
        let empty_past_it = format!("{}{{}}{}", "[".repeat(1000), "]".repeat(1000));
        assert!(!is_valid_json(empty_past_it.as_bytes()));
    }
}
