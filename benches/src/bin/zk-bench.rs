//! zk-bench: a load generator for any ZooKeeper-wire server (zkrs or Apache ZooKeeper). The
//! work is done by `zkrs_benches::zkbench::run`; this parses the arguments, runs it on a
//! tokio runtime of `--threads` workers, and prints the table, the JSON and the plot.
//!
//! ```text
//! zk-bench --servers 127.0.0.1:2181 --clients 16 --op mixed --read-ratio 0.9 --duration 10
//! zk-bench populate --servers 127.0.0.1:2181 --count 1000000
//! ```

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result};
use zkrs_benches::zkbench::{self, plot, Command, Options, Report};

fn main() -> ExitCode {
    let opts = match zkbench::options::parse(std::env::args().skip(1).collect()) {
        Ok(Command::Help) => {
            println!("{}", zkbench::options::USAGE);
            return ExitCode::SUCCESS;
        }
        Ok(Command::Run(o)) => o,
        Err(e) => {
            eprintln!("zk-bench: {e:#}\n(zk-bench --help lists the options)");
            return ExitCode::from(2);
        }
    };
    match run(&opts) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("zk-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(opts: &Options) -> Result<()> {
    // One worker: everything on this thread (on a 2-core machine the server needs the other).
    let rt = if opts.threads == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(opts.threads)
            .enable_all()
            .build()?
    };
    let report = rt.block_on(zkbench::run(opts))?;
    output(opts, &report)
}

/// Writes the plot and JSON files, then prints the table and (unless `--json FILE`) the JSON
/// line. A closed stdout (`zk-bench ... | head`) is not an error.
fn output(opts: &Options, report: &Report) -> Result<()> {
    let mut text = report.table();
    if let Some(path) = &opts.plot {
        std::fs::write(path, plot::svg(report))
            .with_context(|| format!("writing the plot to {}", path.display()))?;
        text.push_str(&format!("plot: {}\n", path.display()));
    }
    let json = report.json();
    match &opts.json {
        Some(path) => {
            std::fs::write(path, format!("{json}\n"))
                .with_context(|| format!("writing the JSON report to {}", path.display()))?;
            text.push_str(&format!("json: {}\n", path.display()));
        }
        None => text.push_str(&format!("{json}\n")),
    }
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}
