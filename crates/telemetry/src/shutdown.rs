//! Shutdown signals: SIGINT (Ctrl-C) and SIGTERM (Kubernetes, `docker stop`).

use tokio::signal;

/// Resolves on the first SIGINT or SIGTERM. A second signal exits at once.
pub async fn signal() {
    wait_for_signal().await;
    tracing::info!(context = "Shutdown", "shutdown signal received");
    tokio::spawn(async {
        wait_for_signal().await;
        eprintln!("second shutdown signal: exiting now");
        std::process::exit(130);
    });
}

async fn wait_for_signal() {
    let ctrl_c = async {
        if signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match signal::unix::signal(signal::unix::SignalKind::terminate()) {
            Ok(mut stream) => {
                stream.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
