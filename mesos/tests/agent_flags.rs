//! The agent binary's command line: `--help`, and bad flags exit 1 naming their source.

use std::process::Command;

fn agent(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mesos-agent"))
        .args(args)
        .arg("--conf_dir=")
        .envs(env.iter().copied())
        .output()
        .expect("run mesos-agent");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn help_lists_the_flags() {
    let (code, out, _) = agent(&["--help"], &[]);
    assert_eq!(code, 0);
    for flag in [
        "--master=VALUE",
        "--work_dir=VALUE",
        "--resources=VALUE",
        "--attributes=VALUE",
        "--containerizers=VALUE",
    ] {
        assert!(out.contains(flag), "{flag} missing from:\n{out}");
    }
}

#[test]
fn bad_flags_exit_1_and_say_where_they_came_from() {
    let (code, _, err) = agent(&[], &[]);
    assert_eq!(code, 1);
    assert!(err.contains("missing required flag --master"), "{err}");
    let (code, _, err) = agent(&["--master=m:5050", "--bogus=1"], &[]);
    assert_eq!(code, 1);
    assert!(err.contains("command line: unknown flag 'bogus'"), "{err}");
    let (code, _, err) = agent(&["--master=m:5050"], &[("MESOS_RESOURCES", "cpus:lots")]);
    assert_eq!(code, 1);
    assert!(
        err.contains("environment variable MESOS_RESOURCES") && err.contains("--resources"),
        "{err}"
    );
    let (code, _, err) = agent(&["--master=m:5050", "--recover=sometimes"], &[]);
    assert_eq!(code, 1);
    assert!(err.contains("--recover"), "{err}");
}
