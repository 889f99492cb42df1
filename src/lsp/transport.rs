//! The byte streams around the LSP framework.
//!
//! Input: the framework stops reading for good after one frame it cannot decode, so frames are
//! checked here first: a frame without a valid `Content-Length`, larger than the limit, or whose
//! body is not JSON is logged and dropped, and the server goes on.
//!
//! Output: one queue of whole frames in front of stdout. The framework's frames join it as
//! they come; diagnostics are serialized straight into it ([`Outgoing`]), without the
//! framework's hand-over through a one-slot channel and a JSON value per message, which cost
//! more than the rest of settling after a change that touches hundreds of files. One queue
//! keeps the order: a response the loop releases after publishing comes after what it
//! published.

use tower_lsp_server::ls_types::WorkDoneProgressCancelParams;

use super::progress::Cancels;
use tokio::io::{
    AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader, DuplexStream,
};
use tokio::sync::mpsc;

/// Largest message accepted (a whole file's text fits many times over).
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024 * 1024;

const CANCEL: &str = "window/workDoneProgress/cancel";

#[derive(serde::Deserialize)]
struct Cancel {
    method: String,
    params: Option<WorkDoneProgressCancelParams>,
}

/// Reads frames from `input` and writes the valid ones to the returned stream; progress cancels
/// go to `cancels` instead.
pub fn filtered<R: AsyncRead + Unpin + Send + 'static>(input: R, cancels: Cancels) -> DuplexStream {
    let (mut writer, reader) = tokio::io::duplex(1 << 20);
    tokio::spawn(async move {
        let mut input = BufReader::new(input);
        loop {
            let length = match read_headers(&mut input).await {
                Headers::End => break,
                Headers::Invalid => {
                    tracing::warn!("dropped a message without a valid Content-Length header");
                    continue;
                }
                Headers::Length(length) => length,
            };
            if length > MAX_MESSAGE_BYTES {
                tracing::warn!("dropped a message of {length} bytes (limit {MAX_MESSAGE_BYTES})");
                // Skip its body without holding it in memory.
                let skipped = tokio::io::copy(
                    &mut (&mut input).take(length as u64),
                    &mut tokio::io::sink(),
                )
                .await;
                if skipped.is_err() {
                    break;
                }
                continue;
            }
            let mut body = vec![0u8; length];
            if input.read_exact(&mut body).await.is_err() {
                break;
            }
            if serde_json::from_slice::<serde::de::IgnoredAny>(&body).is_err() {
                tracing::warn!("dropped a message whose body is not JSON");
                continue;
            }
            // Handled here: the framework handles one message at a time, so a request waiting
            // for the indexing loop would hold the cancel back until indexing is over.
            if memchr::memmem::find(&body, CANCEL.as_bytes()).is_some()
                && let Ok(Cancel {
                    method,
                    params: Some(params),
                }) = serde_json::from_slice::<Cancel>(&body)
                && method == CANCEL
            {
                cancels.cancel(&params.token);
                continue;
            }
            let header = frame_header(length);
            if writer.write_all(header.as_bytes()).await.is_err()
                || writer.write_all(&body).await.is_err()
            {
                break;
            }
        }
        // End of input: the framework sees end of stream and stops.
        let _ = writer.shutdown().await;
    });
    reader
}

enum Headers {
    Length(usize),
    Invalid,
    End,
}

async fn read_headers<R: AsyncBufReadExt + Unpin>(input: &mut R) -> Headers {
    let mut length = None;
    let mut saw_any = false;
    loop {
        let mut line = Vec::new();
        match input.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => return Headers::End,
            Ok(_) => {}
        }
        if line.len() > 8192 {
            return Headers::Invalid;
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches(['\r', '\n']);
        if text.is_empty() {
            if !saw_any {
                continue; // stray blank line between messages
            }
            return match length {
                Some(length) => Headers::Length(length),
                None => Headers::Invalid,
            };
        }
        saw_any = true;
        if let Some((name, value)) = text.split_once(':')
            && name.trim().eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse::<usize>().ok();
        }
    }
}

enum Frame {
    Bytes(Vec<u8>),
    /// The framework's output ended: what is queued before this is written, then nothing.
    End,
}

/// Sends notifications to the client through the output queue.
#[derive(Clone)]
pub struct Outgoing {
    frames: mpsc::UnboundedSender<Frame>,
}

#[derive(serde::Serialize)]
struct NotificationBody<'a, P: ?Sized> {
    jsonrpc: &'static str,
    method: &'a str,
    params: &'a P,
}

impl Outgoing {
    pub fn notify<N>(&self, params: &N::Params)
    where
        N: tower_lsp_server::ls_types::notification::Notification,
    {
        self.notify_as::<N>(params);
    }

    /// [`Self::notify`] with the parameters in another type that serializes the same way (one
    /// that borrows what the typed parameters would own).
    pub fn notify_as<N>(&self, params: &impl serde::Serialize)
    where
        N: tower_lsp_server::ls_types::notification::Notification,
    {
        if let Some(frame) = notification_frame::<N>(params) {
            self.send_frame(frame);
        }
    }

    /// Sends a frame made by [`notification_frame`].
    pub fn send_frame(&self, frame: Vec<u8>) {
        let _ = self.frames.send(Frame::Bytes(frame));
    }
}

/// A notification as the bytes that go out (header and body), to build off the thread that
/// sends it. `None` (logged) when it cannot be serialized.
pub fn notification_frame<N>(params: &impl serde::Serialize) -> Option<Vec<u8>>
where
    N: tower_lsp_server::ls_types::notification::Notification,
{
    thread_local! {
        /// The body is written here first: its length goes in the header before it, and a
        /// buffer that has grown once makes one allocation per frame instead of one per doubling.
        static BODY: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    /// Above this, the buffer is not kept (one huge message must not pin its memory).
    const KEEP_BYTES: usize = 1 << 20;
    let body = NotificationBody {
        jsonrpc: "2.0",
        method: N::METHOD,
        params,
    };
    BODY.with(|buffer| {
        let mut fresh = Vec::new();
        let mut kept = buffer.try_borrow_mut().ok();
        let buffer = kept.as_deref_mut().unwrap_or(&mut fresh);
        buffer.clear();
        let frame = match serde_json::to_writer(&mut *buffer, &body) {
            Ok(()) => {
                let header = frame_header(buffer.len());
                let mut frame = Vec::with_capacity(header.len() + buffer.len());
                frame.extend_from_slice(header.as_bytes());
                frame.extend_from_slice(buffer);
                Some(frame)
            }
            Err(error) => {
                tracing::error!("cannot serialize a {} notification: {error}", N::METHOD);
                None
            }
        };
        if buffer.capacity() > KEEP_BYTES {
            *buffer = Vec::new();
        }
        frame
    })
}

/// The output queue: the stream to give the framework as its output, the handle for
/// notifications, and the task that writes the queue to `output` (it ends after the
/// framework's output ends).
pub fn output_queue<W: AsyncWrite + Unpin>(
    output: W,
) -> (
    DuplexStream,
    Outgoing,
    impl std::future::Future<Output = ()>,
) {
    let (framework_side, from_framework) = tokio::io::duplex(1 << 20);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let outgoing = Outgoing { frames: tx.clone() };
    let forward = async move {
        let mut input = BufReader::new(from_framework);
        loop {
            let Headers::Length(length) = read_headers(&mut input).await else {
                break;
            };
            let mut frame = frame_header(length).into_bytes();
            let start = frame.len();
            frame.resize(start + length, 0);
            if input.read_exact(&mut frame[start..]).await.is_err() {
                break;
            }
            if tx.send(Frame::Bytes(frame)).is_err() {
                break;
            }
        }
        let _ = tx.send(Frame::End);
    };
    let write = async move {
        // Large enough for the publishes of a change that touches hundreds of files: each
        // write to stdout is a hop to tokio's blocking pool.
        let mut output = tokio::io::BufWriter::with_capacity(1 << 20, output);
        while let Some(Frame::Bytes(bytes)) = rx.recv().await {
            if output.write_all(&bytes).await.is_err() {
                break;
            }
            // Everything queued goes out in one flush.
            if rx.is_empty() && output.flush().await.is_err() {
                break;
            }
        }
        let _ = output.flush().await;
    };
    let task = async move {
        tokio::join!(forward, write);
    };
    (framework_side, outgoing, task)
}

fn frame_header(length: usize) -> String {
    format!("Content-Length: {length}\r\n\r\n")
}
