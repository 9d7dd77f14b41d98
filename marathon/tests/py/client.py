"""Drives marathon-python 0.13 (unmodified) for the end-to-end tests.

Usage: client.py URL[,URL...]   then one JSON command per line on stdin, e.g.
  {"op": "create", "app": {...}}      {"op": "get", "id": "/basic-0"}
  {"op": "list"}                      {"op": "scale", "id": "/x", "instances": 3}
  {"op": "restart", "id": "/x"}       {"op": "delete", "id": "/x"}
  {"op": "tasks", "id": "/x"}         {"op": "kill_task", "id": "/x", "task": "..."}
  {"op": "info"}                      {"op": "deployments"}
Each answer is one JSON line: {"ok": true, "result": ...} or {"ok": false, "error": "...",
"status": code}. Results are built from marathon-python's own objects, so a field it does not
know (or a shape it cannot read) fails here.
"""
import collections
import collections.abc
import json
import sys

# marathon-python 0.13's JSON encoder (marathon/util.py) uses `collections.Iterable`, which
# Python 3.10 removed (it lives in collections.abc). Restore the old name for this process so
# the unmodified library runs on a current Python.
if not hasattr(collections, "Iterable"):
    collections.Iterable = collections.abc.Iterable

from marathon import MarathonClient, MarathonApp  # noqa: E402
from marathon.exceptions import MarathonHttpError  # noqa: E402


def app_summary(a):
    return {
        "id": a.id, "instances": a.instances, "cpus": a.cpus, "mem": a.mem,
        "tasks_running": a.tasks_running, "tasks_staged": a.tasks_staged,
        "version": a.version, "deployments": [d.id for d in a.deployments],
        "constraints": [c.json_repr() for c in a.constraints],
        "ports": a.ports,
        "tasks": [{"id": t.id, "host": t.host, "state": t.state, "ports": t.ports,
                   "slave_id": t.slave_id, "started_at": str(t.started_at)} for t in (a.tasks or [])],
    }


def run(c, cmd):
    op = cmd["op"]
    if op == "create":
        a = c.create_app(cmd["app"]["id"], MarathonApp.from_json(cmd["app"]))
        return app_summary(a)
    if op == "get":
        return app_summary(c.get_app(cmd["id"], embed_tasks=True))
    if op == "list":
        return [app_summary(a) for a in c.list_apps(embed_tasks=True)]
    if op == "scale":
        return c.scale_app(cmd["id"], instances=cmd["instances"], force=cmd.get("force", False))
    if op == "restart":
        return c.restart_app(cmd["id"], force=cmd.get("force", False))
    if op == "delete":
        return c.delete_app(cmd["id"], force=cmd.get("force", False))
    if op == "tasks":
        return [{"id": t.id, "host": t.host, "state": t.state, "app_id": t.app_id}
                for t in c.list_tasks(cmd["id"])]
    if op == "kill_task":
        t = c.kill_task(cmd["id"], cmd["task"], scale=cmd.get("scale", False))
        return t if isinstance(t, dict) else {"id": getattr(t, "id", None)}
    if op == "info":
        i = c.get_info()
        return {"name": i.name, "version": i.version, "elected": i.elected, "leader": i.leader,
                "framework_id": i.framework_id}
    if op == "deployments":
        return [{"id": d.id, "apps": d.affected_apps} for d in c.list_deployments()]
    raise ValueError("unknown op " + op)


def main():
    c = MarathonClient(sys.argv[1].split(","), timeout=10)
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            out = {"ok": True, "result": run(c, json.loads(line))}
        except MarathonHttpError as e:
            out = {"ok": False, "error": str(e), "status": e.status_code}
        except Exception as e:  # a shape marathon-python cannot read lands here
            out = {"ok": False, "error": "%s: %s" % (type(e).__name__, e)}
        sys.stdout.write(json.dumps(out, default=str) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
