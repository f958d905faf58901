"""Pieces the control-plane benchmarks share: a JSON-RPC client for
ovsdb-server and unixctl sockets, daemons started and stopped by pid file,
and what a run records about the machine."""

import json
import os
import signal
import socket
import subprocess
import sys
import time


class JsonRpc(object):
    """A minimal blocking JSON-RPC client over a Unix socket, enough for
    ovsdb-server and for unixctl servers."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.buf = ""
        self.decoder = json.JSONDecoder()
        self.next_id = 0

    def send(self, method, params):
        self.next_id += 1
        msg = {"method": method, "params": params, "id": self.next_id}
        self.sock.sendall(json.dumps(msg).encode())
        return self.next_id

    def recv(self, want_id):
        while True:
            self.buf = self.buf.lstrip()
            if self.buf:
                try:
                    obj, end = self.decoder.raw_decode(self.buf)
                except ValueError:
                    obj = None
                if obj is not None:
                    self.buf = self.buf[end:]
                    if obj.get("method") == "echo":
                        self.sock.sendall(json.dumps(
                            {"result": obj["params"], "error": None,
                             "id": obj["id"]}).encode())
                        continue
                    if obj.get("id") == want_id:
                        return obj
                    continue
            data = self.sock.recv(1 << 20)
            if not data:
                raise RuntimeError("connection closed")
            self.buf += data.decode()

    def call(self, method, params):
        reply = self.recv(self.send(method, params))
        if reply.get("error"):
            raise RuntimeError("%s: %s" % (method, reply["error"]))
        return reply["result"]

    def close(self):
        self.sock.close()


class Daemons(object):
    """Runs OVS programs with their run, log and database directories in
    'rundir', and stops the daemons it started, by their pid files."""

    def __init__(self, rundir, env=None):
        self.rundir = rundir
        self.env = dict(env or os.environ, OVS_RUNDIR=rundir,
                        OVS_LOGDIR=rundir, OVS_DBDIR=rundir,
                        OVS_SYSCONFDIR=rundir)
        self.bin = {}
        self.started = []

    def run(self, name, *args, check=True):
        cmd = [self.bin.get(name, name)] + list(args)
        p = subprocess.run(cmd, env=self.env, cwd=self.rundir,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True, timeout=600)
        if check and p.returncode:
            raise RuntimeError("%s failed: %s" % (" ".join(cmd[:3]),
                                                   p.stderr.strip()))
        return p.stdout

    def pid(self, name):
        try:
            with open(os.path.join(self.rundir, name + ".pid")) as f:
                return int(f.read())
        except (OSError, ValueError):
            return None

    def command(self, name, args, program=None):
        """The command line that starts daemon 'program' (default: 'name')
        detached, with pid and log files named after 'name'."""
        program = program or name
        return [self.bin.get(program, program), "--detach", "--no-chdir",
                "--pidfile=%s.pid" % os.path.join(self.rundir, name),
                "--log-file=%s.log" % os.path.join(self.rundir, name)] + list(
                    args)

    def start(self, name, *args, program=None):
        """Starts daemon 'program' (default: 'name') detached, with pid
        and log files named after 'name'."""
        self.start_many([(name, args)], program)

    def start_many(self, daemons, program=None):
        """Starts each (name, args) of 'daemons' as start() does, all at
        once: every one is launched before any is waited for.  Returns when
        every one has detached."""
        launched = []
        try:
            for name, args in daemons:
                # Recorded first: whatever happens next, cleanup() stops
                # the daemon if it wrote its pid file.
                if name not in self.started:
                    self.started.append(name)
                cmd = self.command(name, args, program)
                launched.append((cmd, subprocess.Popen(
                    cmd, env=self.env, cwd=self.rundir,
                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                    universal_newlines=True)))
            failed = []
            for cmd, p in launched:
                _, err = p.communicate(timeout=600)
                if p.returncode:
                    failed.append("%s failed: %s" % (" ".join(cmd[:3]),
                                                     err.strip()))
            if failed:
                raise RuntimeError("; ".join(failed))
        except BaseException:
            # A launcher returns once its daemon has written its pid file
            # and detached: wait for that, so that cleanup() finds it.
            for cmd, p in launched:
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
            raise

    def ours(self, name, pid):
        """Whether process 'pid' is daemon 'name' as this object started
        it (its command line names its pid file), not a process that
        reused a stale pid file's number."""
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                cmdline = f.read().decode(errors="replace")
        except OSError:
            return False
        return ("--pidfile=%s.pid" % os.path.join(self.rundir, name)
                in cmdline.split("\0"))

    def stop_many(self, names):
        """Stops the daemons named 'names', all at once: SIGTERM to each,
        then SIGKILL to those still there 10 s later."""
        pids = []
        for name in names:
            pid = self.pid(name)
            if pid and self.ours(name, pid):
                try:
                    os.kill(pid, signal.SIGTERM)
                    pids.append((name, pid))
                except ProcessLookupError:
                    pass
        deadline = time.time() + 10
        for name, pid in pids:
            # Gone, or a zombie (no command line) waiting to be reaped.
            while self.ours(name, pid) and time.time() < deadline:
                time.sleep(0.05)
            if self.ours(name, pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        for name in names:
            if name in self.started:
                self.started.remove(name)

    def stop(self, name):
        self.stop_many([name])

    def cleanup(self):
        self.stop_many(list(reversed(self.started)))

    def rss_mb(self, name):
        return proc_rss_mb(self.pid(name))

    def cpu_s(self, name):
        return proc_cpu_s(self.pid(name))


class FlexmapDb(object):
    """Writes the Flexmap database straight over JSON-RPC, the way a
    management system with its own OVSDB client would: one transaction per
    'chunk' inserts, no flexmap-ctl in the way."""

    PORTS_PER_IP = 50000

    def __init__(self, sock, tenant):
        self.rpc = JsonRpc(sock)
        self.tenant = tenant
        self.ips = []

    def select(self, table, columns, where=None):
        r = self.rpc.call("transact", ["Flexmap", {
            "op": "select", "table": table, "where": where or [],
            "columns": ["_uuid"] + columns}])
        return r[0]["rows"]

    def transact(self, ops):
        r = self.rpc.call("transact", ["Flexmap"] + ops)
        for x in r:
            if isinstance(x, dict) and "error" in x:
                raise RuntimeError("transaction: %s" % x)
        return r

    def uuids(self, table, column="name"):
        return {row[column]: row["_uuid"][1]
                for row in self.select(table, [column])}

    def ip_uuid(self, i):
        """Address number 'i' (198.18.x.y) and its Public_IP row's UUID,
        inserting the rows up to it as needed."""
        while len(self.ips) <= i:
            addr = "198.18.%d.%d" % (len(self.ips) // 250,
                                     len(self.ips) % 250 + 1)
            tenant = self.select("Tenant", [],
                                 [["name", "==", self.tenant]])[0]
            r = self.transact([{"op": "insert", "table": "Public_IP",
                                "row": {"address": addr,
                                        "tenant": ["uuid",
                                                   tenant["_uuid"][1]]}}])
            self.ips.append((addr, r[0]["uuid"][1]))
        return self.ips[i]

    def mapping_key(self, k):
        """The (address, TCP port) of mapping number 'k'."""
        return (self.ip_uuid(k // self.PORTS_PER_IP)[0],
                k % self.PORTS_PER_IP + 1)

    def load(self, n, backend_uuid, chunk=20000):
        """Replaces the Mapping table by mappings 0..n-1, mapping k to the
        Container row whose UUID is backend_uuid(k), weight 1 (and naming
        it in Mapping:containers, as flexmap-ctl does: per-host
        controllers select mappings on that column).  Returns the rows'
        UUIDs, in order."""
        self.transact([{"op": "delete", "table": "Mapping", "where": []}])
        uuids = []
        for start in range(0, n, chunk):
            ops = []
            for k in range(start, min(n, start + chunk)):
                ip = self.ip_uuid(k // self.PORTS_PER_IP)[1]
                ops.append({"op": "insert", "table": "Mapping", "row": {
                    "ip": ["uuid", ip], "proto": "tcp",
                    "port": k % self.PORTS_PER_IP + 1,
                    "backends": ["map", [[["uuid", backend_uuid(k)], 1]]],
                    "containers": ["set", [["uuid", backend_uuid(k)]]]}})
            uuids += [r["uuid"][1] for r in self.transact(ops)]
        return uuids

    def update_async(self, table, uuid, row):
        """Sends an update of one row and returns the request's id, for
        recv()."""
        return self.rpc.send("transact", ["Flexmap", {
            "op": "update", "table": table,
            "where": [["_uuid", "==", ["uuid", uuid]]], "row": row}])

    def recv(self, xid):
        return self.rpc.recv(xid)


SECTION_BEGIN = "<!-- %s -->"
SECTION_END = "<!-- /%s -->"


def read_section(path, name):
    """The text of section 'name' of Markdown file 'path', markers
    included, or "" if it has none."""
    try:
        with open(path) as f:
            old = f.read()
    except OSError:
        return ""
    begin, end = SECTION_BEGIN % name, SECTION_END % name
    if begin not in old or end not in old:
        return ""
    return old[old.index(begin):old.index(end) + len(end)] + "\n"


def write_section(path, name, text):
    """Replaces section 'name' of Markdown file 'path' by 'text', or
    appends it.  Benchmarks that share a file each own a section."""
    try:
        with open(path) as f:
            old = f.read()
    except OSError:
        old = ""
    section = "%s\n%s%s\n" % (SECTION_BEGIN % name, text,
                               SECTION_END % name)
    kept = read_section(path, name)
    if kept:
        new = old.replace(kept, section)
    else:
        new = old + ("\n" if old else "") + section
    with open(path, "w") as f:
        f.write(new)


def find_programs(ovs, names):
    """Maps each program name to its path in the built OVS tree 'ovs'."""
    paths = {
        "ovsdb-tool": "ovsdb/ovsdb-tool",
        "ovsdb-server": "ovsdb/ovsdb-server",
        "ovsdb-client": "ovsdb/ovsdb-client",
        "ovs-vswitchd": "vswitchd/ovs-vswitchd",
        "ovs-vsctl": "utilities/ovs-vsctl",
        "ovs-ofctl": "utilities/ovs-ofctl",
        "ovs-appctl": "utilities/ovs-appctl",
        "flexmap-ctl": "flexmap/controller/flexmap-ctl",
        "flexmap-controller": "flexmap/controller/flexmap-controller",
    }
    found = {}
    for name in names:
        found[name] = os.path.join(ovs, paths[name])
        if not os.path.exists(found[name]):
            sys.exit("missing %s (is %s a built OVS tree?)"
                     % (found[name], ovs))
    return found


def proc_rss_mb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def proc_cpu_s(pid):
    """User plus system CPU seconds of process 'pid'."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / float(
        os.sysconf("SC_CLK_TCK"))


def load_average():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"
