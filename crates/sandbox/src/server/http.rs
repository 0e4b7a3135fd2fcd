//! The connections of `sandbox serve`: HTTP/1.1 on hyper, with the limits a server on a shared
//! machine needs.
//!
//! - A request must arrive whole (head and body) within the header-read timeout of its first
//!   byte, and a new connection must send its first request within that time too: a client
//!   that sends half a header is closed, not waited for.
//! - A keep-alive connection with no request under way is closed after the idle timeout.
//! - At most `max_connections` connections are served at once. Past the cap a connection is
//!   **refused**, not queued: it is answered `503 ServiceUnavailable` (in a body both faces'
//!   SDKs read, with `Retry-After: 1`; both retry a 503) and closed.
//! - Bodies above `max_body_bytes` are answered 413 (axum's body limit).

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::Request;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};
use tower::ServiceExt;

/// The connection limits (see the module's documentation).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
}

/// Where a connection is between requests, shared by its reader and the request handler.
#[derive(Debug, Clone, Copy)]
enum Stage {
    /// Waiting for the first byte of the next request, since then.
    Idle(Instant),
    /// Receiving a request whose first byte (or the connection) came then.
    Receiving(Instant),
    /// A request is being handled: its answer decides when the connection goes idle again.
    Handling,
}

/// A connection's stage; the handler marks [`Connection::handling`] once a request has arrived
/// whole, and the server marks the connection idle again once the answer is ready.
#[derive(Debug, Clone)]
pub(crate) struct Connection(Arc<Mutex<Stage>>);

impl Connection {
    fn new() -> Connection {
        Connection(Arc::new(Mutex::new(Stage::Receiving(Instant::now()))))
    }

    fn set(&self, stage: Stage) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = stage;
    }

    /// The request has arrived whole; no read deadline while it is handled.
    pub fn handling(&self) {
        self.set(Stage::Handling);
    }

    fn idle(&self) {
        self.set(Stage::Idle(Instant::now()));
    }

    /// Bytes came in: an idle connection starts receiving a request.
    fn received(&self) {
        let mut s = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Stage::Idle(_) = *s {
            *s = Stage::Receiving(Instant::now());
        }
    }

    fn deadline(&self, limits: &Limits) -> Option<Instant> {
        match *self.0.lock().unwrap_or_else(|e| e.into_inner()) {
            Stage::Idle(since) => Some(since + limits.idle_timeout),
            Stage::Receiving(since) => Some(since + limits.header_read_timeout),
            Stage::Handling => None,
        }
    }
}

/// A TCP stream that fails with `TimedOut` once its connection's deadline passes while it
/// waits to read or write, which makes hyper close the connection.
struct Deadlined {
    stream: TcpStream,
    connection: Connection,
    limits: Limits,
    timer: Pin<Box<Sleep>>,
}

impl Deadlined {
    fn new(stream: TcpStream, connection: Connection, limits: Limits) -> Deadlined {
        Deadlined {
            stream,
            connection,
            limits,
            timer: Box::pin(tokio::time::sleep_until(
                Instant::now() + limits.idle_timeout,
            )),
        }
    }

    /// Called when the stream would wait: an error once the deadline has passed, otherwise
    /// the timer is armed to wake the task at the deadline.
    fn expired(&mut self, cx: &mut Context<'_>) -> Option<std::io::Error> {
        let deadline = self.connection.deadline(&self.limits)?;
        if self.timer.deadline() != deadline {
            self.timer.as_mut().reset(deadline);
        }
        match self.timer.as_mut().poll(cx) {
            Poll::Ready(()) => Some(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the client sent no complete request in time",
            )),
            Poll::Pending => None,
        }
    }
}

impl Deadlined {
    /// After a write: arms the timer for the current stage, so that a connection that goes
    /// idle while hyper is not waiting to read (its last read found nothing while a request
    /// was handled) is still woken, and closed, at its deadline.
    fn arm(&mut self, cx: &mut Context<'_>) {
        if self.expired(cx).is_some() {
            // Already past: poll again, so the next read reports it.
            cx.waker().wake_by_ref();
        }
    }
}

impl AsyncRead for Deadlined {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.stream).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    this.connection.received();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending => match this.expired(cx) {
                Some(e) => Poll::Ready(Err(e)),
                None => Poll::Pending,
            },
            ready => ready,
        }
    }
}

impl AsyncWrite for Deadlined {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.stream).poll_write(cx, buf) {
            Poll::Pending => match this.expired(cx) {
                Some(e) => Poll::Ready(Err(e)),
                None => Poll::Pending,
            },
            ready => {
                this.arm(cx);
                ready
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let flushed = Pin::new(&mut this.stream).poll_flush(cx);
        if flushed.is_ready() {
            this.arm(cx);
        }
        flushed
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.stream).poll_write_vectored(cx, bufs) {
            Poll::Pending => match this.expired(cx) {
                Some(e) => Poll::Ready(Err(e)),
                None => Poll::Pending,
            },
            ready => {
                this.arm(cx);
                ready
            }
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

/// The answer to a connection over the cap: a 503 whose body both faces' SDKs read.
fn busy() -> Vec<u8> {
    let message = "The request has failed due to a temporary failure of the server.";
    let body = format!(
        r#"{{"__type":"ServiceUnavailable","message":"{message}","Code":"ServiceUnavailable","Message":"{message}"}}"#
    );
    format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\n\
         connection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Answers 503 and closes; first reads (and drops) what the client sends for a moment, so the
/// close does not reset the connection before the client has read the answer.
async fn refuse(mut stream: TcpStream) {
    if stream.write_all(&busy()).await.is_err() || stream.shutdown().await.is_err() {
        return;
    }
    let drain = async {
        let mut buf = [0u8; 4096];
        let mut total = 0usize;
        while total < 64 * 1024 {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n,
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), drain).await;
}

async fn serve_connection(
    stream: TcpStream,
    router: axum::Router,
    limits: Limits,
    _slot: OwnedSemaphorePermit,
) {
    let _ = stream.set_nodelay(true);
    let connection = Connection::new();
    let io = TokioIo::new(Deadlined::new(stream, connection.clone(), limits));
    let service = hyper::service::service_fn(move |mut req: Request<hyper::body::Incoming>| {
        let connection = connection.clone();
        req.extensions_mut().insert(connection.clone());
        let answer = router.clone().oneshot(req.map(axum::body::Body::new));
        async move {
            let r = answer.await;
            connection.idle();
            r
        }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .serve_connection(io, service)
        .await;
    // The slot is given back here, when the connection is closed.
}

/// Accepts connections for ever, serving each under `limits`.
pub(crate) async fn accept(
    listener: TcpListener,
    router: axum::Router,
    limits: Limits,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) if is_connection_error(&e) => continue,
            Err(_) => {
                // Out of file descriptors or memory: wait for connections to close rather
                // than spin.
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        match slots.clone().try_acquire_owned() {
            Ok(slot) => {
                tokio::spawn(serve_connection(stream, router.clone(), limits, slot));
            }
            Err(_) => {
                tokio::spawn(refuse(stream));
            }
        }
    }
}

/// Errors of one connection that does not matter to the others.
fn is_connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset | Interrupted | WouldBlock
    )
}

#[cfg(test)]
mod tests {
    //! Real connections on loopback. Nothing here measures time: each test waits for what the
    //! server does (a close, an answer) with a generous upper bound that only a hang reaches.

    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    use crate::server::ServerConfig;
    use crate::{Catalog, Sandbox, Settings, SystemClock};

    /// Far beyond any limit under test: reaching it means the server did not act.
    const HANG: Duration = Duration::from_secs(30);

    async fn start(config: ServerConfig) -> String {
        let sandbox = Sandbox::new(
            Catalog::demo(),
            Settings::default(),
            Arc::new(SystemClock),
            crate::store::Store::memory(),
        )
        .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        tokio::spawn(crate::server::serve(
            listener,
            Arc::new(Mutex::new(sandbox)),
            config,
        ));
        addr
    }

    fn config(f: impl FnOnce(&mut ServerConfig)) -> ServerConfig {
        let mut c = ServerConfig {
            header_read_timeout: Duration::from_millis(300),
            idle_timeout: Duration::from_millis(300),
            ..ServerConfig::default()
        };
        f(&mut c);
        c
    }

    const REQUEST: &[u8] = b"POST / HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: 0\r\n\r\n";

    /// Reads until the server closes the connection; what it sent before.
    async fn read_until_closed(s: &mut TcpStream) -> Vec<u8> {
        let mut out = Vec::new();
        let closed = tokio::time::timeout(HANG, async {
            let mut buf = [0u8; 4096];
            loop {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => out.extend_from_slice(&buf[..n]),
                }
            }
        })
        .await;
        assert!(closed.is_ok(), "the server kept the connection open");
        out
    }

    /// Reads one answer (head and a content-length body) off a kept-alive connection.
    async fn read_answer(s: &mut TcpStream) -> String {
        let mut out = Vec::new();
        tokio::time::timeout(HANG, async {
            let mut buf = [0u8; 4096];
            loop {
                let text = String::from_utf8_lossy(&out).to_string();
                if let Some(end) = text.find("\r\n\r\n") {
                    let len: usize = text[..end]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse().unwrap())
                        })
                        .unwrap_or(0);
                    if out.len() >= end + 4 + len {
                        return;
                    }
                }
                let n = s.read(&mut buf).await.unwrap();
                assert!(n > 0, "closed mid-answer: {text}");
                out.extend_from_slice(&buf[..n]);
            }
        })
        .await
        .expect("an answer");
        String::from_utf8(out).unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_half_sent_header_is_closed() {
        let addr = start(config(|c| c.idle_timeout = HANG * 2)).await;
        let mut s = TcpStream::connect(&addr).await.unwrap();
        s.write_all(b"POST / HTTP/1.1\r\nhost: 127.0.0.1\r\nx-acs-act")
            .await
            .unwrap();
        let answered = read_until_closed(&mut s).await;
        assert!(
            answered.is_empty(),
            "{}",
            String::from_utf8_lossy(&answered)
        );
        // A connection that sends nothing at all is closed the same way.
        let mut s = TcpStream::connect(&addr).await.unwrap();
        assert!(read_until_closed(&mut s).await.is_empty());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_idle_keep_alive_connection_is_closed_and_a_slow_answer_is_not() {
        // The answer takes longer than the header-read timeout: handling is not receiving.
        let addr = start(config(|c| {
            c.latency = Duration::from_millis(600);
            c.header_read_timeout = Duration::from_millis(200);
        }))
        .await;
        let mut s = TcpStream::connect(&addr).await.unwrap();
        s.write_all(REQUEST).await.unwrap();
        let first = read_answer(&mut s).await;
        assert!(first.starts_with("HTTP/1.1 404"), "{first}");
        s.write_all(REQUEST).await.unwrap();
        let second = read_answer(&mut s).await;
        assert!(second.starts_with("HTTP/1.1 404"), "kept alive: {second}");
        // Then nothing more is asked: the idle connection is closed.
        assert!(read_until_closed(&mut s).await.is_empty());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn connections_over_the_cap_are_refused_with_a_503() {
        let addr = start(config(|c| {
            c.max_connections = 2;
            c.header_read_timeout = HANG * 2;
            c.idle_timeout = HANG * 2;
        }))
        .await;
        // Two connections in use (each answered once, so each holds a slot).
        let mut held = Vec::new();
        for _ in 0..2 {
            let mut s = TcpStream::connect(&addr).await.unwrap();
            s.write_all(REQUEST).await.unwrap();
            assert!(read_answer(&mut s).await.starts_with("HTTP/1.1 404"));
            held.push(s);
        }
        let mut third = TcpStream::connect(&addr).await.unwrap();
        third.write_all(REQUEST).await.unwrap();
        let refused = String::from_utf8(read_until_closed(&mut third).await).unwrap();
        assert!(refused.starts_with("HTTP/1.1 503"), "{refused}");
        assert!(refused.contains("retry-after: 1"), "{refused}");
        let body = &refused[refused.find("\r\n\r\n").unwrap() + 4..];
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["__type"], "ServiceUnavailable");
        assert_eq!(v["Code"], "ServiceUnavailable");
        // Closing one frees its slot: a later connection is served (once the server has seen
        // the close, which a few attempts cover).
        drop(held.pop());
        let mut served = false;
        for _ in 0..200 {
            let mut s = TcpStream::connect(&addr).await.unwrap();
            s.write_all(REQUEST).await.unwrap();
            if read_answer(&mut s).await.starts_with("HTTP/1.1 404") {
                served = true;
                break;
            }
            tokio::task::yield_now().await;
        }
        assert!(served, "the freed slot was never given to a new connection");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn bodies_over_the_cap_are_refused() {
        let addr = start(config(|c| {
            c.max_body_bytes = 1024;
            c.header_read_timeout = HANG * 2;
        }))
        .await;
        let mut s = TcpStream::connect(&addr).await.unwrap();
        let body = "a".repeat(2048);
        s.write_all(
            format!(
                "POST / HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        )
        .await
        .unwrap();
        let answer = read_answer(&mut s).await;
        assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    }
}
