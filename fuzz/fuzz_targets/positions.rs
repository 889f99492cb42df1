//! Any text and offsets: line/column conversions in both encodings never panic, and turning a
//! position back into an offset gives the offset again (at character boundaries, outside CRLF
//! pairs).
#![no_main]

use libfuzzer_sys::fuzz_target;
use modgraph::line_index::LineIndex;

fuzz_target!(|input: (String, Vec<u32>)| {
    let (text, offsets) = input;
    let index = LineIndex::new(&text);
    for offset in offsets {
        let at16 = index.utf16(offset);
        let at8 = index.utf8(offset);
        let back16 = index.offset(at16, true);
        let back8 = index.offset(at8, false);
        let offset = offset as usize;
        // Inside a CRLF pair is not a place on a line (LSP and editors treat it as one break).
        let inside_crlf = offset > 0
            && text.as_bytes().get(offset - 1) == Some(&b'\r')
            && text.as_bytes().get(offset) == Some(&b'\n');
        if offset <= text.len() && text.is_char_boundary(offset) && !inside_crlf {
            assert_eq!(back16 as usize, offset, "utf16 round trip");
            assert_eq!(back8 as usize, offset, "utf8 round trip");
        }
    }
});
