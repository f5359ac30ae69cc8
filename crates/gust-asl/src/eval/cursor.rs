//! A character reader over a string, shared by the path, filter and intrinsic
//! parsers.
//!
//! # Layout
//! - [`Cursor`]: position, look-ahead, and the small readers (integers,
//!   quoted strings) all three languages use.

/// A reader over a string, by character.
pub(crate) struct Cursor<'s> {
    /// The whole text, for messages.
    pub text: &'s str,
    /// Byte offset of the next character.
    pub pos: usize,
}

impl<'s> Cursor<'s> {
    pub fn new(text: &'s str) -> Self {
        Cursor { text, pos: 0 }
    }
    pub fn rest(&self) -> &'s str {
        &self.text[self.pos..]
    }
    pub fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }
    pub fn peek_char(&self) -> char {
        self.peek().unwrap_or(' ')
    }
    pub fn done(&self) -> bool {
        self.pos >= self.text.len()
    }
    pub fn bump(&mut self) -> Option<char> {
        let ch = self.peek()?;
        self.pos += ch.len_utf8();
        Some(ch)
    }
    pub fn eat(&mut self, ch: char) -> bool {
        if self.peek() == Some(ch) {
            self.bump();
            true
        } else {
            false
        }
    }
    pub fn eat_str(&mut self, s: &str) -> bool {
        if self.rest().starts_with(s) {
            self.pos += s.len();
            true
        } else {
            false
        }
    }
    pub fn expect(&mut self, ch: char) -> Result<(), String> {
        if self.eat(ch) {
            Ok(())
        } else {
            Err(format!(
                "expected '{ch}' at position {} of '{}'",
                self.pos, self.text
            ))
        }
    }
    pub fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.bump();
        }
    }
    pub fn take_while(&mut self, f: impl Fn(char) -> bool) -> String {
        let start = self.pos;
        while self.peek().is_some_and(&f) {
            self.bump();
        }
        self.text[start..self.pos].to_string()
    }
    /// An optional signed integer.
    pub fn integer(&mut self) -> Option<i64> {
        let start = self.pos;
        self.eat('-');
        let digits = self.take_while(|ch| ch.is_ascii_digit());
        if digits.is_empty() {
            self.pos = start;
            return None;
        }
        self.text[start..self.pos].parse().ok()
    }
    /// A `'...'` or `"..."` string, with `\` escaping the next character.
    pub fn quoted(&mut self) -> Result<String, String> {
        let quote = self.bump().filter(|q| *q == '\'' || *q == '"');
        let Some(quote) = quote else {
            return Err(format!(
                "expected a quoted string at position {} of '{}'",
                self.pos, self.text
            ));
        };
        let mut out = String::new();
        loop {
            match self.bump() {
                None => return Err(format!("unterminated string in '{}'", self.text)),
                Some('\\') => out.push(
                    self.bump()
                        .ok_or_else(|| format!("unterminated string in '{}'", self.text))?,
                ),
                Some(ch) if ch == quote => return Ok(out),
                Some(ch) => out.push(ch),
            }
        }
    }
}
