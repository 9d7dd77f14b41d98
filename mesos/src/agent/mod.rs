//! The agent (work in progress: see docs/mesos-agent-protocol.md).
