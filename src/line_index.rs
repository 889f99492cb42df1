//! Byte offsets ↔ lines and columns. Columns are counted in UTF-16 code units (what ESLint,
//! SARIF viewers and LSP's default encoding use) or in bytes (LSP's UTF-8 encoding).

/// 0-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineCol {
    pub line: u32,
    pub col: u32,
}

pub struct LineIndex<'t> {
    text: &'t str,
    /// Byte offset of each line start. `\r\n`, `\n` and lone `\r` end lines.
    starts: std::sync::Arc<[u32]>,
}

impl<'t> LineIndex<'t> {
    pub fn new(text: &'t str) -> Self {
        let bytes = text.as_bytes();
        // SIMD search for line ends: bundles run to megabytes, and an edit in the language
        // server indexes its file again.
        let ends = memchr::memchr2_iter(b'\n', b'\r', bytes)
            .filter(|&i| bytes[i] == b'\n' || bytes.get(i + 1) != Some(&b'\n'))
            .map(|i| i as u32 + 1);
        Self {
            text,
            starts: std::iter::once(0).chain(ends).collect(),
        }
    }

    /// An index of `text` from line starts computed earlier for the same text.
    pub fn with_line_starts(text: &'t str, starts: std::sync::Arc<[u32]>) -> Self {
        if starts.is_empty() {
            Self::new(text)
        } else {
            Self { text, starts }
        }
    }

    /// The line starts, shared, to build an index of the same text later without rescanning.
    pub fn line_starts(&self) -> std::sync::Arc<[u32]> {
        self.starts.clone()
    }

    /// The line starts, to build the index again later without rescanning.
    pub fn into_line_starts(self) -> std::sync::Arc<[u32]> {
        self.starts
    }

    fn line_of(&self, offset: u32) -> usize {
        match self.starts.binary_search(&offset) {
            Ok(line) => line,
            Err(next) => next.saturating_sub(1),
        }
    }

    /// Position of a byte offset with the column in UTF-16 code units. Offsets past the end or
    /// inside a character are clamped.
    pub fn utf16(&self, offset: u32) -> LineCol {
        let offset = offset.min(self.text.len() as u32);
        let line = self.line_of(offset);
        let start = self.starts[line] as usize;
        let mut end = offset as usize;
        while end > start && !self.text.is_char_boundary(end) {
            end -= 1;
        }
        let col = self.text[start..end].encode_utf16().count() as u32;
        LineCol {
            line: line as u32,
            col,
        }
    }

    /// Position of a byte offset with the column in bytes.
    pub fn utf8(&self, offset: u32) -> LineCol {
        let offset = offset.min(self.text.len() as u32);
        let line = self.line_of(offset);
        LineCol {
            line: line as u32,
            col: offset - self.starts[line],
        }
    }

    /// Byte offset of a 0-based line and a column counted in UTF-16 units (`utf16 == true`) or
    /// bytes. Past the end of a line or of the text, the offset is clamped to that end; a column
    /// inside a character moves to the character's start.
    pub fn offset(&self, at: LineCol, utf16: bool) -> u32 {
        let Some(&start) = self.starts.get(at.line as usize) else {
            return self.text.len() as u32;
        };
        let line = self.line_text(at.line);
        let mut col = 0u32;
        for (i, ch) in line.char_indices() {
            let width = if utf16 {
                ch.len_utf16() as u32
            } else {
                ch.len_utf8() as u32
            };
            if col + width > at.col {
                return start + i as u32;
            }
            col += width;
        }
        start + line.len() as u32
    }

    /// The text of a 0-based line without its line ending.
    pub fn line_text(&self, line: u32) -> &'t str {
        let Some(&start) = self.starts.get(line as usize) else {
            return "";
        };
        let end = self
            .starts
            .get(line as usize + 1)
            .map_or(self.text.len(), |e| *e as usize);
        self.text[start as usize..end].trim_end_matches(['\n', '\r'])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Line starts as the definition says: after each `\n`, and after each `\r` that no `\n`
    /// follows.
    fn line_starts_byte_by_byte(text: &str) -> Vec<u32> {
        let bytes = text.as_bytes();
        let mut starts = vec![0];
        for (i, &b) in bytes.iter().enumerate() {
            if b == b'\n' || (b == b'\r' && bytes.get(i + 1) != Some(&b'\n')) {
                starts.push(i as u32 + 1);
            }
        }
        starts
    }

    proptest::proptest! {
        #[test]
        fn line_starts_are_found_after_every_kind_of_line_end(
            text in "[a\r\né😀]{0,200}"
        ) {
            let index = LineIndex::new(&text);
            proptest::prop_assert_eq!(&index.starts[..], &line_starts_byte_by_byte(&text)[..]);
        }
    }

    #[test]
    fn utf16_columns_count_surrogate_pairs_and_crlf_lines() {
        let text = "a\r\n😀x = '中'\nz";
        let index = LineIndex::new(text);
        let x = text.find('x').unwrap() as u32;
        assert_eq!(index.utf16(x), LineCol { line: 1, col: 2 });
        assert_eq!(index.utf8(x), LineCol { line: 1, col: 4 });
        let z = text.find('z').unwrap() as u32;
        assert_eq!(index.utf16(z), LineCol { line: 2, col: 0 });
        assert_eq!(index.line_text(1), "😀x = '中'");
        // Inside a multi-byte character: clamped to its start.
        assert_eq!(index.utf16(x - 1), LineCol { line: 1, col: 0 });
        // And back: positions to offsets, clamped at line ends.
        assert_eq!(index.offset(LineCol { line: 1, col: 2 }, true), x);
        assert_eq!(index.offset(LineCol { line: 1, col: 4 }, false), x);
        assert_eq!(index.offset(LineCol { line: 1, col: 1 }, true), x - 4);
        assert_eq!(index.offset(LineCol { line: 0, col: 99 }, true), 1);
        assert_eq!(
            index.offset(LineCol { line: 9, col: 0 }, true),
            text.len() as u32
        );
    }
}
