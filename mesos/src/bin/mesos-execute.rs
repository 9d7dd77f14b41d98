//! `mesos-execute`: runs one command task through the v1 scheduler API and reports its states.
//!
//! ```text
//! mesos-execute --master=$(mesos-resolve zk://127.0.0.1:2181/mesos) --name=cluster-test --command="sleep 60"
//! ```
//! Exits 0 when the task finishes, 1 when it ends any other way or cannot be launched.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use mesos::flags::{self, Flags, Sources, Spec};
use mesos::resources::Resources;
use mesos::scheduler::{self, MasterSource};
use serde_json::{json, Value};

const SPECS: &[Spec] = &[
    Spec::value(
        "master",
        None,
        "the master: host:port or zk://host:port,.../mesos (required)",
    ),
    Spec::value("name", None, "name (and id) of the task (required)"),
    Spec::value(
        "command",
        None,
        "shell command to run (required unless --docker_image)",
    ),
    Spec::value(
        "resources",
        Some("cpus:1;mem:128"),
        "resources for the task",
    ),
    Spec::value(
        "framework_name",
        Some("mesos-execute instance"),
        "name of the framework",
    ),
    Spec::value("role", Some("*"), "role of the framework"),
    Spec::value(
        "env",
        None,
        "environment variables as a JSON object, e.g. {\"A\":\"1\"}",
    ),
    Spec::boolean("shell", true, "run the command with sh -c"),
    Spec::value("docker_image", None, "run the task in this docker image"),
    Spec::value(
        "containerizer",
        Some("mesos"),
        "mesos or docker (with --docker_image)",
    ),
    Spec::value(
        "kill_after",
        None,
        "kill the task after it has run this long (e.g. 10secs)",
    ),
    Spec::boolean("checkpoint", false, "ask the agent to checkpoint the task"),
    Spec::boolean(
        "partition_aware",
        false,
        "declare the PARTITION_AWARE capability",
    ),
    Spec::value(
        "timeout",
        Some("1days"),
        "give up when the task has not ended by then",
    ),
];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let sources = Sources {
        env: std::env::vars().collect(),
        default_conf_dirs: vec![],
        zk_file_flag: "master",
    };
    let flags = match flags::load(SPECS, &args, &sources) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("mesos-execute: {e}\n(mesos-execute --help lists the flags)");
            return ExitCode::from(1);
        }
    };
    if flags.help {
        print!("{}", flags::usage("mesos-execute", SPECS));
        return ExitCode::SUCCESS;
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("mesos-execute: {e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(run(&flags)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("mesos-execute: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn task_info(flags: &Flags, name: &str, agent_id: &Value, resources: &Resources) -> Result<Value> {
    let mut task = json!({
        "name": name,
        "task_id": {"value": name},
        "agent_id": agent_id,
        "resources": resources.to_json(None),
    });
    let mut command = json!({"shell": flags.bool("shell")});
    if let Some(c) = flags.get("command").filter(|s| !s.is_empty()) {
        command["value"] = json!(c);
    }
    if let Some(env) = flags.get("env").filter(|s| !s.is_empty()) {
        let v: Value = serde_json::from_str(env).context("--env is not JSON")?;
        let Some(obj) = v.as_object() else {
            bail!("--env must be a JSON object")
        };
        let vars: Vec<Value> = obj
            .iter()
            .map(|(k, v)| json!({"name": k, "value": v.as_str().map_or_else(|| v.to_string(), str::to_string)}))
            .collect();
        command["environment"] = json!({"variables": vars});
    }
    task["command"] = command;
    if let Some(image) = flags.get("docker_image").filter(|s| !s.is_empty()) {
        let kind = match flags.get("containerizer").unwrap_or("mesos") {
            "docker" => json!({"type": "DOCKER", "docker": {"image": image, "network": "HOST"}}),
            _ => {
                json!({"type": "MESOS", "mesos": {"image": {"type": "DOCKER", "docker": {"name": image}}}})
            }
        };
        task["container"] = kind;
    }
    Ok(task)
}

async fn run(flags: &Flags) -> Result<bool> {
    let master = MasterSource::parse(flags.require("master")?)?;
    let name = flags.require("name")?.to_string();
    if flags.get("command").is_none_or(str::is_empty)
        && flags.get("docker_image").is_none_or(str::is_empty)
    {
        bail!("--command is required (or --docker_image)");
    }
    let resources = Resources::parse(flags.get("resources").unwrap_or("cpus:1;mem:128"))
        .with_context(|| format!("{}: --resources", flags.origin("resources")))?;
    let kill_after = flags.duration("kill_after")?;
    let timeout = flags
        .duration("timeout")?
        .unwrap_or(Duration::from_secs(86400));
    let deadline = tokio::time::Instant::now() + timeout;

    let addr = master.resolve(Duration::from_secs(30)).await?;
    let user = std::env::var("USER").unwrap_or_else(|_| "root".into());
    let mut capabilities = vec![json!({"type": "MULTI_ROLE"})];
    if flags.bool("partition_aware") {
        capabilities.push(json!({"type": "PARTITION_AWARE"}));
    }
    let framework = json!({
        "user": user,
        "name": flags.get("framework_name").unwrap_or("mesos-execute instance"),
        "roles": [flags.get("role").unwrap_or("*")],
        "checkpoint": flags.bool("checkpoint"),
        "capabilities": capabilities,
        "hostname": "localhost",
    });
    let mut sub = scheduler::subscribe(&addr, &framework, Duration::from_secs(30)).await?;
    println!("Subscribed with ID {}", sub.framework_id);

    let mut launched = false;
    let mut kill_at: Option<tokio::time::Instant> = None;
    loop {
        let event = tokio::select! {
            e = sub.events.recv() => match e {
                Some(e) => e,
                None => bail!("the master closed the event stream"),
            },
            _ = tokio::time::sleep_until(kill_at.unwrap_or(deadline)) => {
                if kill_at.take().is_some() {
                    println!("Killing task '{name}'");
                    sub.call(json!({"type": "KILL", "kill": {"task_id": {"value": name}}})).await?;
                    continue;
                }
                sub.call(json!({"type": "TEARDOWN"})).await.ok();
                bail!("the task did not end within {timeout:?}");
            }
        };
        match event["type"].as_str().unwrap_or("") {
            "OFFERS" => {
                let offers = event["offers"]["offers"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                let mut decline = Vec::new();
                for o in offers {
                    let fits =
                        Resources::from_json(&o["resources"]).is_ok_and(|r| r.contains(&resources));
                    if !launched && fits {
                        let task = task_info(flags, &name, &o["agent_id"], &resources)?;
                        sub.launch(vec![o["id"].clone()], vec![task]).await?;
                        launched = true;
                        println!(
                            "Submitted task '{name}' to agent '{}'",
                            o["agent_id"]["value"].as_str().unwrap_or("")
                        );
                    } else {
                        decline.push(o["id"].clone());
                    }
                }
                if !decline.is_empty() {
                    sub.decline(decline, 3600.0).await?;
                }
            }
            "UPDATE" => {
                let status = &event["update"]["status"];
                let state = status["state"].as_str().unwrap_or("");
                println!(
                    "Received status update {state} for task '{}'",
                    status["task_id"]["value"].as_str().unwrap_or("")
                );
                if let Some(m) = status["message"].as_str().filter(|m| !m.is_empty()) {
                    println!("  message: '{m}'");
                }
                if let Some(s) = status["source"].as_str() {
                    println!("  source: {s}");
                }
                if let Some(r) = status["reason"].as_str() {
                    println!("  reason: {r}");
                }
                sub.acknowledge(status).await?;
                if state == "TASK_RUNNING" {
                    if let Some(d) = kill_after {
                        kill_at.get_or_insert_with(|| tokio::time::Instant::now() + d);
                    }
                }
                if mesos::master::core::is_terminal(state) {
                    sub.call(json!({"type": "TEARDOWN"})).await.ok();
                    return Ok(state == "TASK_FINISHED");
                }
            }
            "ERROR" => bail!("error from the master: {}", event["error"]["message"]),
            "FAILURE" => println!("Agent {} failed", event["failure"]["agent_id"]["value"]),
            _ => {}
        }
    }
}
