//! The master's flags (Mesos' names and defaults), shared by the binary and the tests that
//! parse the shipped configs (`confs/mesos/`).

use crate::flags::Spec;

/// Every flag `mesos-master` accepts.
pub const SPECS: &[Spec] = &[
    Spec::value("zk", None, "ZooKeeper URL (zk://host:port,.../path) for leader election and the registry"),
    Spec::value("quorum", None, "size of the registry quorum (required with --zk; ZooKeeper's own quorum keeps the registry)"),
    Spec::value("work_dir", None, "directory for the master's files (required with --zk)"),
    Spec::value("ip", Some("127.0.0.1"), "IPv4 address to listen on and advertise"),
    Spec::value("port", Some("5050"), "port to listen on"),
    Spec::value("advertise_ip", None, "IPv4 address to advertise instead of --ip"),
    Spec::value("advertise_port", None, "port to advertise instead of --port"),
    Spec::value("hostname", None, "hostname to advertise (default: the IP)"),
    Spec::value("cluster", None, "human-readable name of the cluster, shown in the web UI"),
    Spec::value("offer_timeout", None, "duration after which an unanswered offer is rescinded"),
    Spec::value("agent_ping_timeout", Some("15secs"), "time an agent has to answer a ping"),
    Spec::value("max_agent_ping_timeouts", Some("5"), "missed pings after which an agent is unreachable"),
    Spec::value("agent_reregister_timeout", Some("10mins"), "time agents have to re-register after a master failover"),
    Spec::value("slave_ping_timeout", None, "deprecated alias of --agent_ping_timeout"),
    Spec::value("max_slave_ping_timeouts", None, "deprecated alias of --max_agent_ping_timeouts"),
    Spec::value("slave_reregister_timeout", None, "deprecated alias of --agent_reregister_timeout"),
    Spec::value("allocation_interval", Some("1secs"), "time between allocation rounds"),
    Spec::value("heartbeat_interval", Some("15secs"), "time between HEARTBEAT events to schedulers"),
    Spec::value("zk_session_timeout", Some("10secs"), "ZooKeeper session timeout"),
    Spec::value("registry", Some("replicated_log"), "where the registry lives: replicated_log (in ZooKeeper) or in_memory"),
    Spec::value("weights", None, "role weights, role=weight,role=weight"),
    Spec::value("roles", None, "accepted for compatibility; every role is allowed"),
    Spec::value("log_dir", None, "accepted for compatibility; logs go to stderr"),
    Spec::value("logging_level", Some("INFO"), "INFO, WARNING or ERROR"),
    Spec::value("webui_dir", None, "accepted for compatibility; the web UI is built in"),
    Spec::boolean("authenticate_frameworks", false, "must be false: authentication is not supported"),
    Spec::boolean("authenticate_agents", false, "must be false: authentication is not supported"),
    Spec::boolean("hostname_lookup", true, "accepted for compatibility"),
    Spec::value("max_completed_frameworks", Some("50"), "completed frameworks kept for the endpoints"),
    Spec::value("max_completed_tasks_per_framework", Some("1000"), "completed tasks kept per framework"),
];
