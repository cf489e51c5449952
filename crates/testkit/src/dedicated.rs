//! A server on a tokio runtime of its own, in its own OS thread: it shares
//! no scheduler with its caller, so it runs the way a separate native
//! service would (the benchmark measures servers like that, and steers
//! them from a single-threaded runtime that must not serve them too).

use std::future::Future;
use std::net::SocketAddr;
use std::thread::JoinHandle;

use anyhow::{Context, Result, anyhow};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// A server running on its own runtime thread; dropping it fires the
/// shutdown signal and waits for the thread.
pub struct DedicatedServer {
    /// `http://127.0.0.1:PORT`
    pub url: String,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for DedicatedServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Starts `serve` on a fresh runtime with `worker_threads` workers in a new
/// thread named `name`, on a free loopback port, and returns once it is
/// listening. `serve` gets the listener and the shutdown signal.
pub fn start_dedicated<F, Fut>(
    name: &str,
    worker_threads: usize,
    serve: F,
) -> Result<DedicatedServer>
where
    F: FnOnce(TcpListener, oneshot::Receiver<()>) -> Fut + Send + 'static,
    Fut: Future<Output = ()>,
{
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<SocketAddr, String>>();
    let (shutdown_tx, shutdown_rx) = oneshot::channel();
    let thread_name = name.to_string();
    let thread = std::thread::Builder::new()
        .name(thread_name.clone())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .worker_threads(worker_threads)
                .thread_name(thread_name)
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(err) => {
                    let _ = ready_tx.send(Err(format!("runtime: {err}")));
                    return;
                }
            };
            runtime.block_on(async move {
                let listener = match TcpListener::bind("127.0.0.1:0").await {
                    Ok(listener) => listener,
                    Err(err) => {
                        let _ = ready_tx.send(Err(format!("bind: {err}")));
                        return;
                    }
                };
                match listener.local_addr() {
                    Ok(addr) => {
                        let _ = ready_tx.send(Ok(addr));
                    }
                    Err(err) => {
                        let _ = ready_tx.send(Err(format!("local address: {err}")));
                        return;
                    }
                }
                serve(listener, shutdown_rx).await;
            });
        })
        .with_context(|| format!("starting the {name} thread"))?;
    let addr = ready_rx
        .recv()
        .map_err(|_| anyhow!("{name} server thread exited before listening"))?
        .map_err(|err| anyhow!("{name} server: {err}"))?;
    Ok(DedicatedServer {
        url: format!("http://{addr}"),
        shutdown: Some(shutdown_tx),
        thread: Some(thread),
    })
}
