//! The HTTP server: shared state, the router, and a listener whose connections can be cut.
//!
//! The `drop` fault has to close a connection without answering, which a handler cannot do
//! with a response. So every accepted stream carries a flag ([`Conn`]) that handlers reach
//! through `ConnectInfo`; once set, the stream refuses to write and reads as closed, and the
//! server drops the connection with nothing sent.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

use axum::extract::connect_info::Connected;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::serve::{IncomingStream, Listener};
use axum::Router;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

use crate::faults::Fault;
use crate::platform::ApiError;
use crate::record::Exchange;
use crate::state::{Keys, State};
use crate::{admin, airflow, blobs, clock, iam, platform, record, BlobRequest, EmulatorInfo};

/// The largest blob body accepted in one request (Azure allows more; bundles are smaller).
const BLOB_BODY_LIMIT: usize = 512 * 1024 * 1024;

/// What every handler shares.
#[derive(Debug)]
pub(crate) struct Shared {
    pub state: Mutex<State>,
    pub keys: Keys,
    pub info: EmulatorInfo,
    pub exchanges: Mutex<Vec<Exchange>>,
    pub airflow_exchanges: Mutex<Vec<Exchange>>,
    pub iam_exchanges: Mutex<Vec<Exchange>>,
    pub faults: Mutex<Vec<Fault>>,
    pub blob_requests: Mutex<Vec<BlobRequest>>,
    /// Blob requests being answered right now, for [`BlobRequest::in_flight`].
    pub blobs_in_flight: AtomicU32,
}

pub(crate) type App = Arc<Shared>;

/// Locks a mutex even if a panicking handler poisoned it: every change to the state is
/// checked before it is applied, so what a panic leaves behind is still a consistent state,
/// and serving on beats failing every later request.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    /// Runs `read` on the state after moving time-driven rules forward.
    pub(crate) fn read<T>(
        &self,
        read: impl FnOnce(&State) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let mut state = lock(&self.state);
        if state.advance(clock::now()) {
            state.save().map_err(ApiError::storage)?;
        }
        read(&state)
    }

    /// Runs `change` on the state and saves it. A change checks everything before it changes
    /// anything, so an error leaves the state as it was.
    pub(crate) fn write<T>(
        &self,
        change: impl FnOnce(&mut State) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let mut state = lock(&self.state);
        let advanced = state.advance(clock::now());
        let result = change(&mut state);

        if result.is_ok() || advanced {
            state.save().map_err(ApiError::storage)?;
        }
        result
    }
}

/// Every route of the emulator.
pub(crate) fn router(app: App) -> Router {
    let platform = platform::routes().layer(middleware::from_fn_with_state(
        app.clone(),
        record::platform_layer,
    ));
    let airflow = airflow::routes().layer(middleware::from_fn_with_state(
        app.clone(),
        record::airflow_layer,
    ));
    let iam = iam::routes().layer(middleware::from_fn_with_state(
        app.clone(),
        record::iam_layer,
    ));
    let blobs = blobs::routes()
        .layer(DefaultBodyLimit::max(BLOB_BODY_LIMIT))
        .layer(middleware::from_fn_with_state(app.clone(), blobs::layer));

    Router::new()
        .merge(platform)
        .merge(airflow)
        .merge(iam)
        .merge(blobs)
        .merge(admin::routes())
        .fallback(admin::unknown_route)
        .with_state(app)
}

/// Serves until `shutdown` fires, then lets open requests finish.
pub(crate) async fn serve(listener: TcpListener, app: App, shutdown: oneshot::Receiver<()>) {
    let service = router(app).into_make_service_with_connect_info::<Conn>();
    let signal = async {
        // A dropped sender means the handle is gone: stop as well.
        let _ = shutdown.await;
    };

    let server = axum::serve(CuttableListener(listener), service).with_graceful_shutdown(signal);
    if let Err(error) = server.await {
        tracing::warn!(%error, "the emulator's server stopped");
    }
}

/// One accepted connection, as handlers see it through `ConnectInfo`.
#[derive(Clone, Debug)]
pub(crate) struct Conn {
    pub remote: SocketAddr,
    cut: Arc<AtomicBool>,
}

impl Conn {
    /// Closes the connection without answering the request in flight.
    pub(crate) fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
    }
}

impl Connected<IncomingStream<'_, CuttableListener>> for Conn {
    fn connect_info(stream: IncomingStream<'_, CuttableListener>) -> Self {
        stream.remote_addr().clone()
    }
}

/// A TCP listener whose streams can be cut from a handler.
pub(crate) struct CuttableListener(TcpListener);

impl Listener for CuttableListener {
    type Io = CuttableStream;
    type Addr = Conn;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.0.accept().await {
                Ok((stream, remote)) => {
                    let cut = Arc::new(AtomicBool::new(false));
                    let conn = Conn {
                        remote,
                        cut: cut.clone(),
                    };
                    return (CuttableStream { stream, cut }, conn);
                }
                // Too many open files and the like pass; wait a moment rather than spin.
                Err(error) => {
                    tracing::debug!(%error, "accepting a connection failed");
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        let remote = self.0.local_addr()?;
        Ok(Conn {
            remote,
            cut: Arc::default(),
        })
    }
}

/// A TCP stream that, once cut, reads as closed and refuses every write.
pub(crate) struct CuttableStream {
    stream: TcpStream,
    cut: Arc<AtomicBool>,
}

impl CuttableStream {
    fn is_cut(&self) -> bool {
        self.cut.load(Ordering::SeqCst)
    }
}

fn cut_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "connection cut by an injected fault",
    )
}

impl AsyncRead for CuttableStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.is_cut() {
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for CuttableStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.is_cut() {
            return Poll::Ready(Err(cut_error()));
        }
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.is_cut() {
            return Poll::Ready(Err(cut_error()));
        }
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
