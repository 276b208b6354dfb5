#!/usr/bin/env python3
"""Where one pod's start goes: reads `perf script` output of a system-wide
`perf record -k mono` taken while bench_podstart started ONE pod, and prints
the pod's timeline from the create's send to Ready.

  trace.py --t0-us T0 --ready-ms R --agent PID --server PID < perf-script.txt

T0 is the create's send on CLOCK_MONOTONIC (bench_podstart's t0_mono_us),
R the time to Ready it measured.  The events (see run.sh --trace):
sched_process_fork/exec/exit, fsync/fdatasync enter and exit, unshare.
The anchors, in the order the agent and the runtime plugin take them:
the sandbox's unshare (the agent's sync job has started), the fork that
execs kraal-runc-shim, the `runc create` the shim runs (forked by the shim
side) and the `runc start` the plugin runs (forked by the agent) — or,
since the plugin runs a container with one `runc run --detach` from the
shim, that one runc and no start — the server's store commit (fdatasync)
of the status write, and Ready.
Prints figures only."""
import argparse
import re
import sys

LINE = re.compile(r"^\s*(?P<comm>.+?)\s+(?P<pid>\d+)/(?P<tid>\d+)\s+(?P<time>\d+\.\d+):\s+"
                  r"(?P<event>[\w:]+):\s*(?P<rest>.*)$")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--t0-us", type=int, required=True)
    ap.add_argument("--ready-ms", type=float, required=True)
    ap.add_argument("--agent", type=int, required=True)
    ap.add_argument("--server", type=int, required=True)
    a = ap.parse_args()
    t0 = a.t0_us / 1e6
    end = t0 + a.ready_ms / 1000 + 0.05

    parent = {}          # pid -> pid of the process that forked it
    pcomm = {}           # pid -> comm of the parent at fork
    exec_at = {}         # pid -> (time, filename)
    exit_at = {}         # pid -> time the process (group) ended
    fsync_open = {}      # tid -> enter time
    agent_fsync = []     # (enter, exit) of the agent's fsyncs
    server_sync = []     # exit times of the server's fdatasyncs
    unshare = None
    for line in sys.stdin:
        m = LINE.match(line)
        if not m:
            continue
        t = float(m["time"])
        if t < t0 or t > end:
            continue
        ev, rest, pid, tid = m["event"], m["rest"], int(m["pid"]), int(m["tid"])
        if ev == "sched:sched_process_fork":
            f = dict(kv.split("=", 1) for kv in rest.split() if "=" in kv)
            child = int(f["child_pid"])
            parent[child] = pid
            pcomm[child] = m["comm"]
        elif ev == "sched:sched_process_exec":
            fn = re.search(r"filename=(\S+)", rest).group(1)
            exec_at.setdefault(pid, (t, fn))
        elif ev == "sched:sched_process_exit":
            if "group_dead=true" in rest or "group_dead=1" in rest:
                exit_at[pid] = t
        elif ev in ("syscalls:sys_enter_fsync", "syscalls:sys_enter_fdatasync"):
            fsync_open[tid] = t
        elif ev in ("syscalls:sys_exit_fsync", "syscalls:sys_exit_fdatasync"):
            start = fsync_open.pop(tid, None)
            if start is None:
                continue
            if pid == a.agent:
                agent_fsync.append((start, t))
            elif pid == a.server:
                server_sync.append(t)
        elif ev == "syscalls:sys_enter_unshare" and pid == a.agent and unshare is None:
            unshare = t

    shim = next((p for p, (t, fn) in sorted(exec_at.items(), key=lambda kv: kv[1][0])
                 if fn.endswith("kraal-runc-shim") and parent.get(p) == a.agent), None)
    runcs = sorted((t, p) for p, (t, fn) in exec_at.items() if fn.endswith("/runc"))
    create = next((p for t, p in runcs if pcomm.get(p, "").startswith("kraal-runc-shim")), None)
    start = next((p for t, p in runcs if parent.get(p) == a.agent), None)
    if None in (unshare, shim, create) or create not in exit_at or (
            start is not None and start not in exit_at):
        print("trace: the pod's events were not all found (unshare %s, shim %s, runc create %s, "
              "runc start %s)" % (unshare is not None, shim, create, start))
        return 1
    ms = lambda x: (x - t0) * 1000
    t_shim_fork = exec_at[shim][0]
    if start is None:  # one `runc run --detach` from the shim
        start = create
        steps = [
            ("create sent -> the agent's sync job runs (API, watch, informer, queue)", 0,
             ms(unshare)),
            ("sandbox, its record, rootfs mount, config.json, container record", ms(unshare),
             ms(t_shim_fork)),
            ("shim exec -> runc run exec (its double fork)", ms(t_shim_fork),
             ms(exec_at[create][0])),
            ("runc run --detach (runc + runc init: namespaces, cgroups, mounts, exec)",
             ms(exec_at[create][0]), ms(exit_at[create])),
            ("shim answers, record, status computed and written, watch event -> Ready",
             ms(exit_at[create]), a.ready_ms),
        ]
    else:
        steps = [
            ("create sent -> the agent's sync job runs (API, watch, informer, queue)", 0, ms(unshare)),
            ("sandbox, its record, rootfs mount, config.json", ms(unshare), ms(t_shim_fork)),
            ("shim exec -> runc create exec (its double fork)", ms(t_shim_fork), ms(exec_at[create][0])),
            ("runc create (runc + runc init: namespaces, cgroups, mounts)", ms(exec_at[create][0]),
             ms(exit_at[create])),
            ("shim answers, container record", ms(exit_at[create]), ms(exec_at[start][0])),
            ("runc start", ms(exec_at[start][0]), ms(exit_at[start])),
            ("record, status computed and written, watch event -> Ready", ms(exit_at[start]),
             a.ready_ms),
        ]
    print("one pod's start, perf trace (ms from the create's send):")
    for name, s, e in steps:
        print("  %6.1f .. %6.1f  %5.1f  %s" % (s, e, e - s, name))
    fs = [(s, e) for s, e in agent_fsync if unshare <= s <= t0 + a.ready_ms / 1000]
    print("  the agent's fsyncs meanwhile: %d, %.1f ms in all (longest %.1f ms)" %
          (len(fs), sum(e - s for s, e in fs) * 1000, max([e - s for s, e in fs] or [0]) * 1000))
    commits = [t for t in server_sync if t >= exit_at[start]]
    if commits:
        print("  the server's commit of the status write ends at %.1f ms" % ms(commits[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
