//! `mesos-agent`: see [`mesos::agent`].
fn main() -> std::process::ExitCode {
    mesos::agent::main(std::env::args().collect())
}
