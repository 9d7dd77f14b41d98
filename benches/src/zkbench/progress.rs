//! Live counters of a run, and the progress line drawn from them on stderr (rewritten in
//! place on a terminal, one line a second otherwise).

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::options::Length;

/// Counters every session bumps as ops end; read by the progress line and by tests that act
/// in the middle of a run.
#[derive(Debug, Default)]
pub struct Live {
    /// Workload ops ended, warm-up included.
    pub ended: AtomicU64,
    /// Measured workload ops ended.
    pub measured: AtomicU64,
}

impl Live {
    pub fn ended(&self) -> u64 {
        self.ended.load(Ordering::Relaxed)
    }

    pub fn measured(&self) -> u64 {
        self.measured.load(Ordering::Relaxed)
    }
}

/// The progress line's task; [`Progress::stop`] erases the line and ends it.
pub struct Progress {
    stop: Arc<Notify>,
    task: JoinHandle<()>,
}

impl Progress {
    /// Starts drawing; `warm_end` is when measuring starts.
    pub fn start(live: Arc<Live>, length: Length, warm_end: Instant) -> Progress {
        let stop = Arc::new(Notify::new());
        let tty = std::io::stderr().is_terminal();
        let every = if tty {
            Duration::from_millis(500)
        } else {
            Duration::from_secs(1)
        };
        let task = tokio::spawn({
            let stop = Arc::clone(&stop);
            async move {
                let mut last = (Instant::now(), live.ended());
                loop {
                    tokio::select! {
                        () = stop.notified() => break,
                        () = tokio::time::sleep(every) => {}
                    }
                    let now = Instant::now();
                    let ended = live.ended();
                    let rate = (ended - last.1) as f64 / now.duration_since(last.0).as_secs_f64();
                    last = (now, ended);
                    let text = line(&live, length, warm_end, now, rate);
                    let mut err = std::io::stderr().lock();
                    let _ = if tty {
                        write!(err, "\r{text}\x1b[K")
                    } else {
                        writeln!(err, "{text}")
                    };
                    let _ = err.flush();
                }
                if tty {
                    let _ = write!(std::io::stderr().lock(), "\r\x1b[K");
                }
            }
        });
        Progress { stop, task }
    }

    pub async fn stop(self) {
        self.stop.notify_one();
        let _ = self.task.await;
    }
}

/// `zk-bench: 5.0/10.0 s  123456 ops  24691 ops/s` (during warm-up: `warm-up 0.5/1.0 s`).
fn line(live: &Live, length: Length, warm_end: Instant, now: Instant, rate: f64) -> String {
    if now < warm_end {
        return format!(
            "zk-bench: warm-up, {:.1} s left  {} ops  {rate:.0} ops/s",
            warm_end.duration_since(now).as_secs_f64(),
            live.ended()
        );
    }
    let secs = now.duration_since(warm_end).as_secs_f64();
    match length {
        Length::Duration(d) => format!(
            "zk-bench: {secs:.1}/{:.1} s  {} ops  {rate:.0} ops/s",
            d.as_secs_f64(),
            live.measured()
        ),
        Length::Count(n) => format!(
            "zk-bench: {}/{n} ops  {rate:.0} ops/s  {secs:.1} s",
            live.measured()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines() {
        let live = Live::default();
        live.ended.store(150, Ordering::Relaxed);
        live.measured.store(100, Ordering::Relaxed);
        let t0 = Instant::now();
        let l = line(
            &live,
            Length::Duration(Duration::from_secs(10)),
            t0,
            t0 + Duration::from_secs(5),
            2000.0,
        );
        assert_eq!(l, "zk-bench: 5.0/10.0 s  100 ops  2000 ops/s");
        let l = line(
            &live,
            Length::Count(1000),
            t0,
            t0 + Duration::from_secs(2),
            50.0,
        );
        assert_eq!(l, "zk-bench: 100/1000 ops  50 ops/s  2.0 s");
        let l = line(
            &live,
            Length::Count(1000),
            t0 + Duration::from_secs(1),
            t0,
            50.0,
        );
        assert!(
            l.starts_with("zk-bench: warm-up, 1.0 s left  150 ops"),
            "{l}"
        );
    }
}
