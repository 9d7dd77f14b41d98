//! Tasks: their states, and how a `TaskInfo` becomes a command line and environment (the
//! plan a supervisor carries out). Pure: no I/O here.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::resources::Resources;

/// Mesos' `TaskState`, with its wire names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TaskState {
    #[serde(rename = "TASK_STAGING")]
    Staging,
    #[serde(rename = "TASK_STARTING")]
    Starting,
    #[serde(rename = "TASK_RUNNING")]
    Running,
    #[serde(rename = "TASK_KILLING")]
    Killing,
    #[serde(rename = "TASK_FINISHED")]
    Finished,
    #[serde(rename = "TASK_FAILED")]
    Failed,
    #[serde(rename = "TASK_KILLED")]
    Killed,
    #[serde(rename = "TASK_ERROR")]
    Error,
    #[serde(rename = "TASK_LOST")]
    Lost,
}

impl TaskState {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Staging => "TASK_STAGING",
            TaskState::Starting => "TASK_STARTING",
            TaskState::Running => "TASK_RUNNING",
            TaskState::Killing => "TASK_KILLING",
            TaskState::Finished => "TASK_FINISHED",
            TaskState::Failed => "TASK_FAILED",
            TaskState::Killed => "TASK_KILLED",
            TaskState::Error => "TASK_ERROR",
            TaskState::Lost => "TASK_LOST",
        }
    }

    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            TaskState::Finished
                | TaskState::Failed
                | TaskState::Killed
                | TaskState::Error
                | TaskState::Lost
        )
    }
}

/// A task is named by its framework and its ID (task IDs are unique per framework).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TaskKey {
    pub framework_id: String,
    pub task_id: String,
}

/// What the supervisor runs: one process with its arguments, environment and output files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LaunchSpec {
    pub program: String,
    pub arg0: String,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub cwd: PathBuf,
    pub stdout: PathBuf,
    pub stderr: PathBuf,
    /// What the fetcher puts into the sandbox before the command starts.
    #[serde(default)]
    pub uris: Vec<crate::agent::fetcher::Uri>,
}

/// Why the agent will not run a task: the state and reason to report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub state: TaskState,
    pub reason: &'static str,
    pub message: String,
}

/// What the agent knows when it plans a launch.
#[derive(Debug, Clone)]
pub struct LaunchContext<'a> {
    pub agent_id: &'a str,
    pub hostname: &'a str,
    pub framework_id: &'a str,
    pub container_id: &'a str,
    pub sandbox: PathBuf,
    /// The agent's environment, minus what tasks must not inherit.
    pub base_env: &'a [(String, String)],
    /// `Some(docker CLI)` when DOCKER containers can run here.
    pub docker: Option<&'a str>,
    /// `--containerizers` as given, for the refusal message.
    pub containerizers: &'a str,
}

/// Where a DOCKER container sees its sandbox, as in Mesos.
pub const DOCKER_SANDBOX: &str = "/mnt/mesos/sandbox";
/// At most this many `PORT<n>` variables are set.
const MAX_PORT_VARS: usize = 1000;

fn str_at<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer).and_then(Value::as_str)
}

/// The task's resources (an empty set when they do not parse: the master checked them).
pub fn task_resources(task_info: &Value) -> Resources {
    task_info
        .get("resources")
        .and_then(|r| Resources::from_json(r).ok())
        .unwrap_or_default()
}

/// The ports the task was given, in order.
pub fn task_ports(task_info: &Value) -> Vec<u64> {
    task_resources(task_info)
        .ranges("ports")
        .iter()
        .flat_map(|&(b, e)| b..=e)
        .take(MAX_PORT_VARS)
        .collect()
}

/// The grace between SIGTERM and SIGKILL: the KILL_TASK's policy, else the TaskInfo's, else
/// 3 seconds.
pub fn kill_grace(kill_policy: Option<&Value>, task_info: &Value) -> Duration {
    let from = |v: Option<&Value>| {
        v.and_then(|p| p.pointer("/grace_period/nanoseconds"))
            .and_then(|n| n.as_u64().or_else(|| n.as_f64().map(|f| f.max(0.0) as u64)))
            .map(Duration::from_nanos)
    };
    from(kill_policy)
        .or_else(|| from(task_info.get("kill_policy")))
        .unwrap_or(Duration::from_secs(3))
}

fn refuse(state: TaskState, reason: &'static str, message: impl Into<String>) -> Refusal {
    Refusal {
        state,
        reason,
        message: message.into(),
    }
}

/// The environment of a task: the agent's (filtered), then the Mesos variables, then the
/// ports, then the command's own variables (which win).
fn environment(
    task_info: &Value,
    ctx: &LaunchContext<'_>,
    sandbox_seen: &str,
) -> Vec<(String, String)> {
    let task_id = str_at(task_info, "/task_id/value").unwrap_or("");
    let mut env: Vec<(String, String)> = ctx.base_env.to_vec();
    let mut set = |k: &str, v: String| {
        env.retain(|(name, _)| name != k);
        env.push((k.to_string(), v));
    };
    set("MESOS_SANDBOX", sandbox_seen.to_string());
    set("MESOS_DIRECTORY", ctx.sandbox.display().to_string());
    set("MESOS_TASK_ID", task_id.to_string());
    set("MESOS_EXECUTOR_ID", task_id.to_string());
    set("MESOS_FRAMEWORK_ID", ctx.framework_id.to_string());
    set("MESOS_AGENT_ID", ctx.agent_id.to_string());
    set("MESOS_SLAVE_ID", ctx.agent_id.to_string());
    set("MESOS_CONTAINER_ID", ctx.container_id.to_string());
    set("HOST", ctx.hostname.to_string());
    let ports = task_ports(task_info);
    for (i, p) in ports.iter().enumerate() {
        set(&format!("PORT{i}"), p.to_string());
    }
    if let Some(first) = ports.first() {
        set("PORT", first.to_string());
        let list: Vec<String> = ports.iter().map(u64::to_string).collect();
        set("PORTS", list.join(","));
    }
    let vars = task_info
        .pointer("/command/environment/variables")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for var in vars {
        if let Some(name) = var.get("name").and_then(Value::as_str) {
            if !name.is_empty() && !name.contains(['=', '\0']) {
                let value = var.get("value").and_then(Value::as_str).unwrap_or("");
                set(name, value.to_string());
            }
        }
    }
    env
}

/// The command's program, argv[0] and arguments: `sh -c value` for shell commands, else
/// `value` exec'd with `arguments` (whose first is argv[0], as in Mesos).
fn command_line(command: &Value) -> Result<(String, String, Vec<String>), Refusal> {
    let shell = command
        .get("shell")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let value = command.get("value").and_then(Value::as_str).unwrap_or("");
    let arguments: Vec<String> = command
        .get("arguments")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    if value.is_empty() {
        return Err(refuse(
            TaskState::Error,
            "REASON_TASK_INVALID",
            "The task's command has no 'value'",
        ));
    }
    if value.contains('\0') || arguments.iter().any(|a| a.contains('\0')) {
        return Err(refuse(
            TaskState::Error,
            "REASON_TASK_INVALID",
            "The task's command contains a NUL byte",
        ));
    }
    if shell {
        Ok((
            "sh".into(),
            "sh".into(),
            vec!["-c".into(), value.to_string()],
        ))
    } else {
        let arg0 = arguments
            .first()
            .cloned()
            .unwrap_or_else(|| value.to_string());
        Ok((
            value.to_string(),
            arg0,
            arguments.into_iter().skip(1).collect(),
        ))
    }
}

/// `docker run` for a DOCKER container (best effort: Mesos' docker containerizer does much
/// more).
fn docker_line(
    docker: &str,
    task_info: &Value,
    ctx: &LaunchContext<'_>,
    env: &[(String, String)],
) -> Result<(String, String, Vec<String>), Refusal> {
    let Some(image) = str_at(task_info, "/container/docker/image").filter(|s| !s.is_empty()) else {
        return Err(refuse(
            TaskState::Error,
            "REASON_TASK_INVALID",
            "A DOCKER container needs container.docker.image",
        ));
    };
    let mut args = vec![
        "run".to_string(),
        "--rm".into(),
        "--name".into(),
        format!("mesos-{}.{}", ctx.agent_id, ctx.container_id),
        "-v".into(),
        format!("{}:{DOCKER_SANDBOX}", ctx.sandbox.display()),
        "-w".into(),
        DOCKER_SANDBOX.into(),
    ];
    let base: std::collections::HashSet<&str> =
        ctx.base_env.iter().map(|(k, _)| k.as_str()).collect();
    for (k, v) in env.iter().filter(|(k, _)| !base.contains(k.as_str())) {
        args.push("-e".into());
        args.push(format!("{k}={v}"));
    }
    if str_at(task_info, "/container/docker/network") == Some("HOST") {
        args.push("--net=host".into());
    }
    let mappings = task_info
        .pointer("/container/docker/port_mappings")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for m in mappings {
        let (Some(host), Some(container)) = (
            m.get("host_port").and_then(Value::as_u64),
            m.get("container_port").and_then(Value::as_u64),
        ) else {
            continue;
        };
        let proto = m.get("protocol").and_then(Value::as_str).unwrap_or("tcp");
        args.push("-p".into());
        args.push(format!("{host}:{container}/{proto}"));
    }
    if task_info
        .pointer("/container/docker/privileged")
        .and_then(Value::as_bool)
        == Some(true)
    {
        args.push("--privileged".into());
    }
    args.push(image.to_string());
    if let Some(command) = task_info.get("command") {
        let shell = command
            .get("shell")
            .and_then(Value::as_bool)
            .unwrap_or(true);
        let value = command.get("value").and_then(Value::as_str).unwrap_or("");
        let arguments = command
            .get("arguments")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_else(Vec::new);
        if shell && !value.is_empty() {
            args.extend(["sh".to_string(), "-c".to_string(), value.to_string()]);
        } else {
            if !value.is_empty() {
                args.push(value.to_string());
            }
            args.extend(arguments);
        }
    }
    Ok((docker.to_string(), docker.to_string(), args))
}

/// Turns a `TaskInfo` into what the supervisor runs, or says why it cannot run here.
pub fn plan_launch(task_info: &Value, ctx: &LaunchContext<'_>) -> Result<LaunchSpec, Refusal> {
    if task_info.get("executor").is_some() {
        return Err(refuse(
            TaskState::Error,
            "REASON_TASK_INVALID",
            "Tasks with a custom executor are not supported by this agent; send a command task",
        ));
    }
    let container_type = str_at(task_info, "/container/type");
    let is_docker = container_type == Some("DOCKER")
        || (container_type.is_none() && task_info.pointer("/container/docker").is_some());
    let (program, arg0, args, env) = if is_docker {
        let Some(docker) = ctx.docker else {
            return Err(refuse(
                TaskState::Failed,
                "REASON_CONTAINER_LAUNCH_FAILED",
                format!(
                    "Docker is not available on this agent (--containerizers={})",
                    ctx.containerizers
                ),
            ));
        };
        let env = environment(task_info, ctx, DOCKER_SANDBOX);
        let (p, a0, a) = docker_line(docker, task_info, ctx, &env)?;
        (p, a0, a, ctx.base_env.to_vec())
    } else {
        if container_type.is_some_and(|t| t != "MESOS") {
            return Err(refuse(
                TaskState::Failed,
                "REASON_CONTAINER_LAUNCH_FAILED",
                format!(
                    "Container type {} is not supported by this agent",
                    container_type.unwrap_or("")
                ),
            ));
        }
        if task_info.pointer("/container/mesos/image").is_some() {
            return Err(refuse(
                TaskState::Failed,
                "REASON_CONTAINER_LAUNCH_FAILED",
                "Container images for the Mesos containerizer are not supported by this agent",
            ));
        }
        let Some(command) = task_info.get("command") else {
            return Err(refuse(
                TaskState::Error,
                "REASON_TASK_INVALID",
                "The task has neither a command nor an executor",
            ));
        };
        let (p, a0, a) = command_line(command)?;
        let env = environment(task_info, ctx, &ctx.sandbox.display().to_string());
        (p, a0, a, env)
    };
    let uris = task_info
        .get("command")
        .map(crate::agent::fetcher::Uri::list)
        .unwrap_or_default();
    Ok(LaunchSpec {
        program,
        arg0,
        args,
        env,
        cwd: ctx.sandbox.clone(),
        stdout: ctx.sandbox.join("stdout"),
        stderr: ctx.sandbox.join("stderr"),
        uris,
    })
}

/// What the agent tells about a task, in the words Mesos' command executor uses.
pub fn describe_exit(code: Option<i32>, signal: Option<i32>) -> String {
    match (code, signal) {
        (Some(c), _) => format!("Command exited with status {c}"),
        (None, Some(s)) => {
            let name = nix::sys::signal::Signal::try_from(s)
                .map_or_else(|_| s.to_string(), |sig| sig.as_str().to_string());
            format!("Command terminated with signal {name}")
        }
        (None, None) => "Command ended without an exit status".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ctx<'a>(base: &'a [(String, String)], docker: Option<&'a str>) -> LaunchContext<'a> {
        LaunchContext {
            agent_id: "A-S0",
            hostname: "agent1",
            framework_id: "F1",
            container_id: "c1",
            sandbox: PathBuf::from("/w/sb"),
            base_env: base,
            docker,
            containerizers: "mesos",
        }
    }

    fn env_of(spec: &LaunchSpec, k: &str) -> Option<String> {
        spec.env
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
    }

    #[test]
    fn shell_command_with_mesos_variables_and_ports() {
        let base = vec![("PATH".to_string(), "/bin".to_string())];
        let ti = json!({
            "task_id": {"value": "t1"},
            "command": {"value": "echo hi", "environment": {"variables": [
                {"name": "FOO", "value": "bar"}, {"name": "HOST", "value": "override"}]}},
            "resources": [{"name": "ports", "type": "RANGES",
                "ranges": {"range": [{"begin": 31000, "end": 31001}, {"begin": 31005, "end": 31005}]}}]
        });
        let s = plan_launch(&ti, &ctx(&base, None)).unwrap();
        assert_eq!(
            (s.program.as_str(), s.args.clone()),
            ("sh", vec!["-c".to_string(), "echo hi".into()])
        );
        assert_eq!(env_of(&s, "PATH").as_deref(), Some("/bin"));
        assert_eq!(env_of(&s, "FOO").as_deref(), Some("bar"));
        assert_eq!(
            env_of(&s, "HOST").as_deref(),
            Some("override"),
            "the command's variables win"
        );
        assert_eq!(env_of(&s, "MESOS_SANDBOX").as_deref(), Some("/w/sb"));
        assert_eq!(env_of(&s, "MESOS_TASK_ID").as_deref(), Some("t1"));
        assert_eq!(env_of(&s, "MESOS_AGENT_ID").as_deref(), Some("A-S0"));
        assert_eq!(env_of(&s, "MESOS_FRAMEWORK_ID").as_deref(), Some("F1"));
        assert_eq!(env_of(&s, "PORT0").as_deref(), Some("31000"));
        assert_eq!(env_of(&s, "PORT2").as_deref(), Some("31005"));
        assert_eq!(env_of(&s, "PORT").as_deref(), Some("31000"));
        assert_eq!(env_of(&s, "PORTS").as_deref(), Some("31000,31001,31005"));
        assert_eq!(s.stdout, PathBuf::from("/w/sb/stdout"));
    }

    #[test]
    fn exec_command_uses_the_first_argument_as_argv0() {
        let ti = json!({"task_id": {"value": "t"}, "command": {"shell": false,
            "value": "/bin/echo", "arguments": ["echo", "a", "b"]}});
        let s = plan_launch(&ti, &ctx(&[], None)).unwrap();
        assert_eq!(s.program, "/bin/echo");
        assert_eq!(s.arg0, "echo");
        assert_eq!(s.args, vec!["a", "b"]);
    }

    #[test]
    fn refusals_say_why() {
        let no_cmd = plan_launch(&json!({"task_id": {"value": "t"}}), &ctx(&[], None)).unwrap_err();
        assert_eq!(no_cmd.state, TaskState::Error);
        assert!(no_cmd.message.contains("neither a command nor an executor"));
        let exec = plan_launch(&json!({"executor": {}}), &ctx(&[], None)).unwrap_err();
        assert!(exec.message.contains("custom executor"));
        let docker = json!({"task_id": {"value": "t"}, "command": {"value": "x"},
            "container": {"type": "DOCKER", "docker": {"image": "nginx"}}});
        let r = plan_launch(&docker, &ctx(&[], None)).unwrap_err();
        assert_eq!(r.state, TaskState::Failed);
        assert_eq!(
            r.message,
            "Docker is not available on this agent (--containerizers=mesos)"
        );
        let empty = plan_launch(&json!({"command": {"value": ""}}), &ctx(&[], None)).unwrap_err();
        assert!(empty.message.contains("no 'value'"));
    }

    #[test]
    fn docker_run_line() {
        let ti = json!({"task_id": {"value": "t"}, "command": {"value": "nginx -g x"},
            "resources": [{"name": "ports", "type": "RANGES", "ranges": {"range": [{"begin": 31000, "end": 31000}]}}],
            "container": {"type": "DOCKER", "docker": {"image": "nginx", "network": "BRIDGE",
                "port_mappings": [{"host_port": 31000, "container_port": 80}]}}});
        let s = plan_launch(&ti, &ctx(&[], Some("docker"))).unwrap();
        assert_eq!(s.program, "docker");
        let line = s.args.join(" ");
        assert!(
            line.starts_with("run --rm --name mesos-A-S0.c1 -v /w/sb:/mnt/mesos/sandbox"),
            "{line}"
        );
        assert!(
            line.contains("-e MESOS_SANDBOX=/mnt/mesos/sandbox"),
            "{line}"
        );
        assert!(line.contains("-p 31000:80/tcp"), "{line}");
        assert!(line.ends_with("nginx sh -c nginx -g x"), "{line}");
    }

    #[test]
    fn kill_grace_precedence() {
        let ti = json!({"kill_policy": {"grace_period": {"nanoseconds": 2_000_000_000u64}}});
        let kp = json!({"grace_period": {"nanoseconds": 500_000_000u64}});
        assert_eq!(kill_grace(Some(&kp), &ti), Duration::from_millis(500));
        assert_eq!(kill_grace(None, &ti), Duration::from_secs(2));
        assert_eq!(kill_grace(None, &json!({})), Duration::from_secs(3));
    }

    #[test]
    fn exit_descriptions() {
        assert_eq!(describe_exit(Some(3), None), "Command exited with status 3");
        assert_eq!(
            describe_exit(None, Some(15)),
            "Command terminated with signal SIGTERM"
        );
        assert_eq!(
            describe_exit(None, Some(200)),
            "Command terminated with signal 200"
        );
    }
}
