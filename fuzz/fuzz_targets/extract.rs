//! Any bytes, as every kind of JavaScript and TypeScript file: extraction never panics.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use oxc_allocator::Allocator;

const NAMES: &[&str] = &[
    "a.js", "a.mjs", "a.cjs", "a.jsx", "a.ts", "a.mts", "a.cts", "a.tsx", "a.d.ts",
];

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut allocator = Allocator::default();
    for name in NAMES {
        let _ = modgraph::extract::extract(Path::new(name), &text, &mut allocator);
    }
});
