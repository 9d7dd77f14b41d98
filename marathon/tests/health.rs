//! Health checks against real local servers and processes on 127.0.0.1.
//!
//! No test sleeps to wait for something: each check is bounded by its own `timeoutSeconds`, and
//! each test is bounded again by [`bounded`].
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use marathon::health::{run_check, CheckResult, Health, HealthCheck, Verdict};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const HOST: &str = "127.0.0.1";

fn check(v: Value) -> HealthCheck {
    HealthCheck::parse(&v, "/healthChecks(0)").expect("valid health check")
}

/// Fails the test instead of hanging it.
async fn bounded<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), f)
        .await
        .expect("the test took longer than 30 s")
}

/// An HTTP server: `/` answers 200, `/fail` 500, `/moved` 302, `/continue` only `100 Continue`,
/// `/toggle` whatever status `toggle` holds, anything else 404.
async fn http_server(toggle: Arc<AtomicU16>) -> u16 {
    let listener = TcpListener::bind((HOST, 0)).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(serve(stream, toggle.clone()));
        }
    });
    port
}

async fn serve(mut stream: TcpStream, toggle: Arc<AtomicU16>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let request = String::from_utf8_lossy(&buf);
    let path = request.split(' ').nth(1).unwrap_or("").to_string();
    let status = match path.as_str() {
        "/" => "200 OK".to_string(),
        "/fail" => "500 Internal Server Error".to_string(),
        "/moved" => "302 Found".to_string(),
        "/continue" => {
            let _ = stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").await;
            // Never sends a final response; the checker must not wait for one.
            let _ = stream.read(&mut chunk).await;
            return;
        }
        "/toggle" => match toggle.load(Ordering::SeqCst) {
            200 => "200 OK".to_string(),
            code => format!("{code} Nope"),
        },
        _ => "404 Not Found".to_string(),
    };
    let body = "ok";
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
}

async fn http_check_of(path: &str, extra: Value) -> (CheckResult, Duration) {
    let port = http_server(Arc::new(AtomicU16::new(200))).await;
    let mut v = json!({"protocol": "HTTP", "path": path, "portIndex": 1, "timeoutSeconds": 2});
    for (k, x) in extra.as_object().unwrap() {
        v[k] = x.clone();
    }
    let hc = check(v);
    let started = Instant::now();
    // portIndex 1: the second of the task's ports.
    let result = bounded(run_check(&hc, HOST, &[1, u32::from(port)], &[])).await;
    (result, started.elapsed())
}

#[tokio::test]
async fn http_200_and_3xx_are_healthy() {
    assert_eq!(http_check_of("/", json!({})).await.0, CheckResult::Healthy);
    assert_eq!(
        http_check_of("/moved", json!({})).await.0,
        CheckResult::Healthy
    );
}

#[tokio::test]
async fn http_500_is_unhealthy_with_the_status_as_cause() {
    assert_eq!(
        http_check_of("/fail", json!({})).await.0,
        CheckResult::Unhealthy("500 Internal Server Error".into())
    );
}

#[tokio::test]
async fn http_404_path_is_unhealthy() {
    assert_eq!(
        http_check_of("/missing", json!({})).await.0,
        CheckResult::Unhealthy("404 Not Found".into())
    );
    // A relative path is requested as absolute, as Marathon does.
    assert_eq!(
        http_check_of("fail", json!({})).await.0,
        CheckResult::Unhealthy("500 Internal Server Error".into())
    );
}

#[tokio::test]
async fn http_1xx_is_ignored_only_with_ignore_http1xx() {
    let (ignored, took) = http_check_of("/continue", json!({"ignoreHttp1xx": true})).await;
    assert_eq!(ignored, CheckResult::Ignored);
    assert!(
        took < Duration::from_secs(2),
        "waited for a final response: {took:?}"
    );
    assert_eq!(
        http_check_of("/continue", json!({})).await.0,
        CheckResult::Unhealthy("100 Continue".into())
    );
}

#[tokio::test]
async fn mesos_http_is_probed_like_http() {
    let (result, _) = http_check_of("/fail", json!({"protocol": "MESOS_HTTP"})).await;
    assert_eq!(
        result,
        CheckResult::Unhealthy("500 Internal Server Error".into())
    );
}

#[tokio::test]
async fn http_server_that_never_answers_times_out_within_the_timeout() {
    let listener = TcpListener::bind((HOST, 0)).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    // Accepts and holds every connection without a byte in reply.
    let _holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    let hc = check(json!({"protocol": "HTTP", "port": port, "timeoutSeconds": 1}));
    let started = Instant::now();
    let result = bounded(run_check(&hc, HOST, &[], &[])).await;
    let took = started.elapsed();
    assert_eq!(
        result,
        CheckResult::Unhealthy("health check timed out after 1s".into())
    );
    assert!(
        took >= Duration::from_millis(900),
        "gave up early: {took:?}"
    );
    assert!(
        took < Duration::from_secs(3),
        "overran the timeout: {took:?}"
    );
}

#[tokio::test]
async fn https_is_reported_as_unsupported() {
    let port = http_server(Arc::new(AtomicU16::new(200))).await;
    let hc = check(json!({"protocol": "HTTPS", "port": port, "timeoutSeconds": 1}));
    match bounded(run_check(&hc, HOST, &[], &[])).await {
        CheckResult::Unhealthy(cause) => assert!(cause.contains("HTTPS"), "{cause}"),
        other => panic!("expected unhealthy, got {other:?}"),
    }
}

#[tokio::test]
async fn tcp_open_port_is_healthy_and_closed_port_is_not() {
    let listener = TcpListener::bind((HOST, 0)).await.unwrap();
    let open = listener.local_addr().unwrap().port();
    let closed = {
        let l = TcpListener::bind((HOST, 0)).await.unwrap();
        l.local_addr().unwrap().port()
    };
    let hc = check(json!({"protocol": "TCP", "portIndex": 0, "timeoutSeconds": 2}));
    assert_eq!(
        bounded(run_check(&hc, HOST, &[u32::from(open)], &[])).await,
        CheckResult::Healthy
    );
    match bounded(run_check(&hc, HOST, &[u32::from(closed)], &[])).await {
        CheckResult::Unhealthy(cause) => assert!(cause.contains("cannot connect"), "{cause}"),
        other => panic!("expected unhealthy, got {other:?}"),
    }
    let mesos = check(json!({"protocol": "MESOS_TCP", "port": open, "timeoutSeconds": 2}));
    assert_eq!(
        bounded(run_check(&mesos, HOST, &[], &[])).await,
        CheckResult::Healthy
    );
    drop(listener);
}

#[tokio::test]
async fn missing_port_is_unhealthy() {
    let hc = check(json!({"protocol": "TCP", "portIndex": 3, "timeoutSeconds": 1}));
    match bounded(run_check(&hc, HOST, &[80], &[])).await {
        CheckResult::Unhealthy(cause) => assert!(cause.contains("effectivePort"), "{cause}"),
        other => panic!("expected unhealthy, got {other:?}"),
    }
}

fn command_check(value: &str) -> HealthCheck {
    check(json!({"protocol": "COMMAND", "command": {"value": value}, "timeoutSeconds": 1}))
}

#[tokio::test]
async fn command_exit_status_decides() {
    assert_eq!(
        bounded(run_check(&command_check("exit 0"), HOST, &[], &[])).await,
        CheckResult::Healthy
    );
    match bounded(run_check(&command_check("exit 1"), HOST, &[], &[])).await {
        CheckResult::Unhealthy(cause) => assert!(cause.contains("exit status: 1"), "{cause}"),
        other => panic!("expected unhealthy, got {other:?}"),
    }
}

#[tokio::test]
async fn command_sees_the_task_environment() {
    let env = vec![
        ("HOST".to_string(), HOST.to_string()),
        ("PORT0".to_string(), "31000".to_string()),
    ];
    let hc = command_check(r#"test "$HOST:$PORT0" = "127.0.0.1:31000""#);
    assert_eq!(
        bounded(run_check(&hc, HOST, &[], &env)).await,
        CheckResult::Healthy
    );
}

#[tokio::test]
async fn command_that_hangs_is_killed_at_the_timeout() {
    let started = Instant::now();
    let result = bounded(run_check(&command_check("sleep 10"), HOST, &[], &[])).await;
    let took = started.elapsed();
    assert_eq!(
        result,
        CheckResult::Unhealthy("health check timed out after 1s".into())
    );
    assert!(
        took >= Duration::from_millis(900),
        "gave up early: {took:?}"
    );
    assert!(
        took < Duration::from_secs(3),
        "overran the timeout: {took:?}"
    );
}

/// A task passes, then its endpoint starts answering 503: with maxConsecutiveFailures 3,
/// Marathon kills it on the 4th failure; a recovery before that resets the count.
#[tokio::test]
async fn failing_task_is_killed_after_max_consecutive_failures() {
    let toggle = Arc::new(AtomicU16::new(200));
    let port = http_server(toggle.clone()).await;
    let hc = check(json!({
        "protocol": "HTTP", "path": "/toggle", "portIndex": 0,
        "gracePeriodSeconds": 60, "intervalSeconds": 10, "timeoutSeconds": 2,
        "maxConsecutiveFailures": 3,
    }));
    let ports = [u32::from(port)];
    let started_ms = 1_795_341_600_000u64;
    let mut health = Health::new();
    let mut now_ms = marathon::health::next_check_due_ms(&hc, started_ms, None);
    let step = |health: &mut Health, result: CheckResult, now: &mut u64| {
        let v = health.on_result(&hc, started_ms, *now, result);
        *now = marathon::health::next_check_due_ms(&hc, started_ms, Some(*now));
        v
    };

    let r = bounded(run_check(&hc, HOST, &ports, &[])).await;
    assert_eq!(step(&mut health, r, &mut now_ms), Verdict::Healthy);

    toggle.store(503, Ordering::SeqCst);
    let mut verdicts = Vec::new();
    for _ in 0..2 {
        let r = bounded(run_check(&hc, HOST, &ports, &[])).await;
        verdicts.push(step(&mut health, r, &mut now_ms));
    }
    toggle.store(200, Ordering::SeqCst);
    let r = bounded(run_check(&hc, HOST, &ports, &[])).await;
    verdicts.push(step(&mut health, r, &mut now_ms));
    toggle.store(503, Ordering::SeqCst);
    for _ in 0..4 {
        let r = bounded(run_check(&hc, HOST, &ports, &[])).await;
        verdicts.push(step(&mut health, r, &mut now_ms));
    }
    assert_eq!(
        verdicts,
        [
            Verdict::Failed,
            Verdict::Failed,
            Verdict::Healthy,
            Verdict::Failed,
            Verdict::Failed,
            Verdict::Failed,
            Verdict::Kill,
        ]
    );
    let j = health.to_json("app.instance-1");
    assert_eq!(j["alive"], false);
    assert_eq!(j["consecutiveFailures"], 4);
    assert_eq!(j["lastFailureCause"], "503 Nope");
    assert_eq!(j["firstSuccess"], "2026-11-22T10:00:15.000Z");
}

/// Whether `pid` is gone or a zombie (killed, not yet reaped by its new parent).
fn dead(pid: &str) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        // The state follows the parenthesised command name.
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z') || rest.starts_with('X')),
    }
}

#[tokio::test]
async fn command_timeout_kills_everything_the_shell_started() {
    let pid_file = std::env::temp_dir().join(format!("health-check-{}.pid", uuid::Uuid::new_v4()));
    let hc = command_check(&format!(
        "sleep 60 & echo $! > {}; wait",
        pid_file.display()
    ));
    let result = bounded(run_check(&hc, HOST, &[], &[])).await;
    assert_eq!(
        result,
        CheckResult::Unhealthy("health check timed out after 1s".into())
    );
    let pid = std::fs::read_to_string(&pid_file).expect("the command wrote its child's pid");
    let _ = std::fs::remove_file(&pid_file);
    let pid = pid.trim().to_string();
    // The kill is sent before run_check returns; the kernel may take a moment to deliver it.
    tokio::time::timeout(Duration::from_secs(5), async {
        while !dead(&pid) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the shell's child survived the timeout");
}
