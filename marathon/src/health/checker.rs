//! Performs one health check, every step bounded by the check's `timeoutSeconds`.
//!
//! Follows Marathon's `core/health/impl/HealthCheckWorker.scala`:
//! - HTTP: `GET http://host:port/path`; 200..=399 is healthy; 100..=199 is discarded
//!   ([`CheckResult::Ignored`]) when `ignoreHttp1xx` is set and unhealthy otherwise; anything
//!   else is unhealthy with the status (`"500 Internal Server Error"`) as the cause. Only the
//!   status line is read; the body is never waited for.
//! - TCP: healthy when a connection can be opened.
//! - COMMAND: `/bin/sh -c <value>`; exit status 0 is healthy.
//!
//! MESOS_HTTP, MESOS_HTTPS and MESOS_TCP are probed like HTTP, HTTPS and TCP.
//!
//! Where the check runs: Marathon 1.x probes HTTP/HTTPS/TCP from the Marathon leader (as here),
//! but hands COMMAND and MESOS_* checks to Mesos, whose executor runs them on the agent inside
//! the task's namespaces. Our Mesos has no health checker, so this module runs every check
//! from the Marathon host: a COMMAND check is a local process with the task's environment
//! (`HOST`, `PORT0`, ... as the caller passes them) added to ours, and a MESOS_* check probes
//! the task's host address, not its loopback interface.
//!
//! HTTPS: this build has no TLS client, so an HTTPS or MESOS_HTTPS check reports unhealthy
//! with a cause that says so (Marathon would accept any certificate).
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

use super::check::{HealthCheck, Level, PortRef, Probe, Scheme};
use super::state::CheckResult;

/// A status line longer than this is not HTTP we want to read further.
const MAX_STATUS_LINE_BYTES: usize = 8 * 1024;

/// Runs `check` once against a task on `host` whose host ports are `ports` (what `portIndex`
/// indexes). `env` is added to a COMMAND check's environment. Never takes (much) longer than
/// `timeoutSeconds`; a timeout is a failure.
pub async fn run_check(
    check: &HealthCheck,
    host: &str,
    ports: &[u32],
    env: &[(String, String)],
) -> CheckResult {
    let limit = Duration::from_secs(u64::from(check.timeout_seconds));
    match &check.probe {
        Probe::Http {
            scheme: Scheme::Https,
            ..
        } => CheckResult::Unhealthy(
            "HTTPS health checks are not supported: this Marathon has no TLS client".into(),
        ),
        Probe::Http {
            scheme: Scheme::Http,
            level,
            path,
            port,
            ignore_http1xx,
        } => {
            let port = match resolve_port(*port, ports) {
                Ok(p) => p,
                Err(e) => return CheckResult::Unhealthy(e),
            };
            let path = absolute_path(path.as_deref());
            match timeout(limit, http_status(host, port, &path)).await {
                Err(_) => CheckResult::Unhealthy(timed_out(check)),
                Ok(Err(e)) => CheckResult::Unhealthy(e),
                Ok(Ok((code, reason))) => {
                    judge_status(code, &reason, *level == Level::Marathon && *ignore_http1xx)
                }
            }
        }
        Probe::Tcp { port, .. } => {
            let port = match resolve_port(*port, ports) {
                Ok(p) => p,
                Err(e) => return CheckResult::Unhealthy(e),
            };
            match timeout(limit, TcpStream::connect((host, port))).await {
                Err(_) => CheckResult::Unhealthy(timed_out(check)),
                Ok(Err(e)) => {
                    CheckResult::Unhealthy(format!("cannot connect to {host}:{port}: {e}"))
                }
                Ok(Ok(_stream)) => CheckResult::Healthy,
            }
        }
        Probe::Command { value } => run_command(value, env, limit, check).await,
    }
}

fn timed_out(check: &HealthCheck) -> String {
    format!("health check timed out after {}s", check.timeout_seconds)
}

/// `MarathonHealthCheck.effectivePort`: a fixed port, or the task's port at `portIndex`.
fn resolve_port(port: PortRef, ports: &[u32]) -> Result<u16, String> {
    let n = match port {
        PortRef::Number(n) => n,
        PortRef::Index(i) => usize::try_from(i)
            .ok()
            .and_then(|i| ports.get(i).copied())
            .unwrap_or(0),
    };
    match u16::try_from(n) {
        Ok(p) if p != 0 => Ok(p),
        _ => Err("Health check failed: unable to get the task's effectivePort".into()),
    }
}

/// As `HealthCheckWorker.http`: no path is `/`, and a relative path gets a leading `/`.
fn absolute_path(path: Option<&str>) -> String {
    let raw = path.unwrap_or("");
    if raw.starts_with('/') {
        raw.to_string()
    } else {
        format!("/{raw}")
    }
}

fn judge_status(code: u16, reason: &str, ignore_http1xx: bool) -> CheckResult {
    match code {
        200..=399 => CheckResult::Healthy,
        100..=199 if ignore_http1xx => CheckResult::Ignored,
        _ if reason.is_empty() => CheckResult::Unhealthy(code.to_string()),
        _ => CheckResult::Unhealthy(format!("{code} {reason}")),
    }
}

/// Sends `GET path` and returns the status code and reason phrase of the first status line.
/// The caller bounds it with the check's timeout.
async fn http_status(host: &str, port: u16, path: &str) -> Result<(u16, String), String> {
    let mut stream = TcpStream::connect((host, port))
        .await
        .map_err(|e| format!("cannot connect to {host}:{port}: {e}"))?;
    let authority = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: marathon-health-check\r\n\
         Accept: */*\r\nConnection: close\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| format!("cannot send the request: {e}"))?;
    let mut buf = Vec::with_capacity(256);
    let mut chunk = [0u8; 1024];
    let line_end = loop {
        if let Some(i) = buf.windows(2).position(|w| w == b"\r\n") {
            break i;
        }
        if buf.len() > MAX_STATUS_LINE_BYTES {
            return Err("the status line is too long".into());
        }
        let n = stream
            .read(&mut chunk)
            .await
            .map_err(|e| format!("cannot read the response: {e}"))?;
        if n == 0 {
            return Err("the connection closed before a response".into());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    parse_status_line(&buf[..line_end])
}

fn parse_status_line(line: &[u8]) -> Result<(u16, String), String> {
    let bad = || format!("malformed status line {:?}", String::from_utf8_lossy(line));
    let text = std::str::from_utf8(line).map_err(|_| bad())?;
    let mut parts = text.splitn(3, ' ');
    let version = parts.next().unwrap_or("");
    let code = parts.next().unwrap_or("");
    let reason = parts.next().unwrap_or("").trim();
    if !version.starts_with("HTTP/") || code.len() != 3 {
        return Err(bad());
    }
    let code: u16 = code.parse().map_err(|_| bad())?;
    Ok((code, reason.to_string()))
}

async fn run_command(
    value: &str,
    env: &[(String, String)],
    limit: Duration,
    check: &HealthCheck,
) -> CheckResult {
    let mut cmd = tokio::process::Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(value)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        // Its own process group, so a timeout can take down everything the shell started.
        .process_group(0)
        // If the caller drops this future, the shell does not outlive it.
        .kill_on_drop(true);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return CheckResult::Unhealthy(format!("cannot run the command: {e}")),
    };
    let pgid = child.id().and_then(|id| i32::try_from(id).ok());
    match timeout(limit, child.wait()).await {
        Ok(Ok(status)) if status.success() => CheckResult::Healthy,
        Ok(Ok(status)) => CheckResult::Unhealthy(format!("command failed: {status}")),
        Ok(Err(e)) => CheckResult::Unhealthy(format!("cannot wait for the command: {e}")),
        Err(_) => {
            if let Some(pgid) = pgid {
                // The group may be gone already; nothing to do about a failure here.
                let _ = nix::sys::signal::killpg(
                    nix::unistd::Pid::from_raw(pgid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            // Reaps the shell (SIGKILL again is harmless), so no zombie is left behind.
            let _ = child.kill().await;
            CheckResult::Unhealthy(timed_out(check))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes_follow_marathon() {
        assert_eq!(judge_status(200, "OK", false), CheckResult::Healthy);
        assert_eq!(judge_status(302, "Found", false), CheckResult::Healthy);
        assert_eq!(judge_status(399, "", false), CheckResult::Healthy);
        assert_eq!(judge_status(100, "Continue", true), CheckResult::Ignored);
        assert_eq!(
            judge_status(100, "Continue", false),
            CheckResult::Unhealthy("100 Continue".into())
        );
        assert_eq!(
            judge_status(404, "Not Found", true),
            CheckResult::Unhealthy("404 Not Found".into())
        );
        assert_eq!(
            judge_status(500, "", false),
            CheckResult::Unhealthy("500".into())
        );
    }

    #[test]
    fn status_lines() {
        assert_eq!(
            parse_status_line(b"HTTP/1.1 503 Service Unavailable"),
            Ok((503, "Service Unavailable".into()))
        );
        assert_eq!(parse_status_line(b"HTTP/1.0 200"), Ok((200, String::new())));
        assert!(parse_status_line(b"SSH-2.0-OpenSSH").is_err());
        assert!(parse_status_line(b"HTTP/1.1 20 OK").is_err());
    }

    #[test]
    fn paths_and_ports() {
        assert_eq!(absolute_path(None), "/");
        assert_eq!(absolute_path(Some("health")), "/health");
        assert_eq!(absolute_path(Some("/a?b=c")), "/a?b=c");
        assert_eq!(resolve_port(PortRef::Index(1), &[10, 20]), Ok(20));
        assert_eq!(resolve_port(PortRef::Number(99), &[]), Ok(99));
        assert!(resolve_port(PortRef::Index(2), &[10, 20]).is_err());
        assert!(resolve_port(PortRef::Index(0), &[0]).is_err());
        assert!(resolve_port(PortRef::Number(70_000), &[]).is_err());
    }
}
