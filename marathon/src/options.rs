//! The flags `marathon` accepts (Marathon's names), shared by the binary and the tests that
//! parse the shipped `/etc/marathon/conf` files.

use mesos::flags::Spec;

/// Every flag `marathon` accepts.
pub const SPECS: &[Spec] = &[
    Spec::value(
        "master",
        None,
        "the Mesos master: zk://host:port,.../mesos or host:port (required)",
    ),
    Spec::value(
        "zk",
        Some("zk://localhost:2181/marathon"),
        "ZooKeeper URL for Marathon's state and leader latch",
    ),
    Spec::value("http_port", Some("8080"), "port of the REST API and web UI"),
    Spec::value(
        "http_address",
        Some("127.0.0.1"),
        "IPv4 address to listen on",
    ),
    Spec::value(
        "hostname",
        None,
        "hostname others reach this instance by (default: --http_address)",
    ),
    Spec::value(
        "framework_name",
        Some("marathon"),
        "the framework's name in Mesos",
    ),
    Spec::value(
        "failover_timeout",
        Some("604800"),
        "seconds Mesos keeps our tasks while no Marathon is subscribed",
    ),
    Spec::value("mesos_role", Some("*"), "the Mesos role to register with"),
    Spec::value(
        "zk_session_timeout",
        Some("10000"),
        "ZooKeeper session timeout, ms",
    ),
    Spec::value(
        "event_subscriber",
        None,
        "accepted for compatibility (events are served on /v2/events)",
    ),
    Spec::value(
        "task_launch_timeout",
        Some("300000"),
        "ms a task may stay staging before it is killed and replaced",
    ),
    Spec::value(
        "local_port_min",
        Some("10000"),
        "accepted for compatibility: service ports are 10000-20000",
    ),
    Spec::value(
        "local_port_max",
        Some("20000"),
        "accepted for compatibility: service ports are 10000-20000",
    ),
    Spec::value("logging_level", Some("info"), "debug, info, warn or error"),
    Spec::boolean("checkpoint", true, "ask agents to checkpoint tasks"),
    Spec::boolean(
        "disable_ha",
        false,
        "accepted for compatibility; the leader latch is always used",
    ),
];
