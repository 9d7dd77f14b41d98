//! The common end of the long-running binaries' `main` (`mesos-master`, `marathon`): logs to
//! standard error, then runs the server on a two-worker runtime and turns its error into a
//! message and exit status 1.

use std::future::Future;
use std::process::ExitCode;

/// Logs at `level` (a tracing filter), or by the filter in the variable `log_env` when it is
/// set, then runs `server` to its end. `name` prefixes the messages of a failure.
pub fn serve(
    name: &str,
    log_env: &str,
    level: &str,
    server: impl Future<Output = anyhow::Result<()>>,
) -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env(log_env).unwrap_or_else(|_| level.into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{name}: {e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(server) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{name}: {e:#}");
            ExitCode::from(1)
        }
    }
}
