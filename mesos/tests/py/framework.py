"""A real pymesos (0.3.15, unmodified) framework for the end-to-end tests.

It subscribes to the master named by argv[1] (zk://... or host:port), launches
--tasks command tasks running --cmd (one per offer until all are launched), and
prints one JSON line per event it sees on stdout, flushed at once:
  {"event": "registered", "framework_id": ...}
  {"event": "reregistered"}
  {"event": "offers", "count": n, "agents": [...]}
  {"event": "launched", "task_id": ..., "agent_id": ...}
  {"event": "update", "task_id": ..., "state": ..., "message": ..., "reason": ...}
  {"event": "agent_lost", "agent_id": ...}
  {"event": "error", "message": ...}
Lines on stdin drive it: "reconcile", "kill <task_id>", "stop" (stop without
teardown, keeping tasks: a scheduler failover), "teardown".
It exits by itself after --timeout seconds.
"""
import argparse
import json
import logging
import sys
import threading
import time
import uuid

from pymesos import MesosSchedulerDriver, Scheduler, encode_data  # noqa: F401

lock = threading.Lock()


def emit(**kw):
    with lock:
        sys.stdout.write(json.dumps(kw) + "\n")
        sys.stdout.flush()


def scalar(resources, name):
    return sum(r.get("scalar", {}).get("value", 0.0) for r in resources if r["name"] == name)


class Sched(Scheduler):
    def __init__(self, args):
        self.args = args
        self.launched = 0

    def registered(self, driver, framework_id, master_info):
        emit(event="registered", framework_id=framework_id["value"], master=master_info)

    def reregistered(self, driver, master_info):
        emit(event="reregistered", master=master_info)

    def resourceOffers(self, driver, offers):
        emit(event="offers", count=len(offers), agents=[o["agent_id"]["value"] for o in offers])
        for offer in offers:
            cpus = scalar(offer["resources"], "cpus")
            mem = scalar(offer["resources"], "mem")
            tasks = []
            while (self.launched < self.args.tasks and cpus >= self.args.cpus
                   and mem >= self.args.mem):
                tid = "%s-%d" % (self.args.prefix, self.launched)
                self.launched += 1
                cpus -= self.args.cpus
                mem -= self.args.mem
                tasks.append({
                    "task_id": {"value": tid},
                    "agent_id": offer["agent_id"],
                    "name": "task " + tid,
                    "command": {"value": self.args.cmd},
                    "resources": [
                        {"name": "cpus", "type": "SCALAR", "scalar": {"value": self.args.cpus}},
                        {"name": "mem", "type": "SCALAR", "scalar": {"value": self.args.mem}},
                    ],
                })
                emit(event="launched", task_id=tid, agent_id=offer["agent_id"]["value"])
            if tasks:
                driver.launchTasks(offer["id"], tasks)
            else:
                driver.declineOffer(offer["id"], {"refuse_seconds": 1})

    def statusUpdate(self, driver, update):
        emit(event="update", task_id=update["task_id"]["value"], state=update["state"],
             message=update.get("message", ""), reason=update.get("reason", ""),
             source=update.get("source", ""), agent_id=update.get("agent_id", {}).get("value"))

    def slaveLost(self, driver, agent_id):
        emit(event="agent_lost", agent_id=agent_id["value"])

    def offerRescinded(self, driver, offer_id):
        emit(event="rescinded", offer_id=offer_id["value"])

    def error(self, driver, message):
        emit(event="error", message=message)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("master")
    p.add_argument("--name", default="pymesos-e2e")
    p.add_argument("--tasks", type=int, default=1)
    p.add_argument("--cmd", default="echo hello")
    p.add_argument("--cpus", type=float, default=0.1)
    p.add_argument("--mem", type=float, default=32)
    p.add_argument("--prefix", default="t" + uuid.uuid4().hex[:6])
    p.add_argument("--framework-id", default=None)
    p.add_argument("--failover-timeout", type=float, default=3600)
    p.add_argument("--timeout", type=float, default=120)
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)

    framework = {"user": "", "name": args.name, "hostname": "localhost",
                 "failover_timeout": args.failover_timeout}
    if args.framework_id:
        framework["id"] = {"value": args.framework_id}
    driver = MesosSchedulerDriver(Sched(args), framework, args.master, use_addict=False)
    driver.start()

    def stdin_loop():
        for line in sys.stdin:
            words = line.split()
            if not words:
                continue
            if words[0] == "reconcile":
                driver.reconcileTasks([])
            elif words[0] == "kill" and len(words) > 1:
                driver.killTask({"value": words[1]})
            elif words[0] == "stop":
                driver.stop(failover=True)
                emit(event="stopped")
                return
            elif words[0] == "teardown":
                driver.stop(failover=False)
                emit(event="stopped")
                return

    t = threading.Thread(target=stdin_loop, daemon=True)
    t.start()
    deadline = time.time() + args.timeout
    while time.time() < deadline and t.is_alive():
        time.sleep(0.2)
    if t.is_alive():
        driver.stop(failover=True)
    driver.join()


if __name__ == "__main__":
    main()
