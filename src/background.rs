//! Work moved off the threads that answer: freeing large structures.

/// Drops `value` on a background thread (inline when that thread cannot start). Freeing a
/// structure of thousands of allocations takes milliseconds that an edit should not wait for.
pub fn drop_elsewhere<T: Send + 'static>(value: T) {
    type Boxed = Box<dyn Send>;
    static DROPPER: std::sync::OnceLock<Option<std::sync::mpsc::Sender<Boxed>>> =
        std::sync::OnceLock::new();
    let sender = DROPPER.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel::<Boxed>();
        std::thread::Builder::new()
            .name("modgraph-drop".into())
            .spawn(move || rx.into_iter().for_each(drop))
            .ok()
            .map(|_| tx)
    });
    if let Some(sender) = sender {
        // Sent back on failure, and dropped here.
        let _ = sender.send(Box::new(value));
    }
}
