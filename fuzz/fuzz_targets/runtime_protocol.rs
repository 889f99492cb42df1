//! Any bytes as lines from a runtime agent, and as a discovery record: decoding never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for line in text.split('\n') {
        let _ = modgraph::runtime::client::decode(line);
    }
    let _ = serde_json::from_slice::<modgraph::runtime::RuntimeRecord>(data);
});
