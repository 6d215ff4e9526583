"""netns.py - a worker "host" of its own: a network namespace linked to the root namespace
by a veth pair, TCP relays from the root-side address to the stack's Redis, PostgreSQL and
amcsim (as tests/integration/test_netns.py does), and one amcbatch-worker inside. The Redis
relay can be cut: it then holds whatever it reads, in both directions and on new
connections, which to the worker looks like a network partition (no reset, no answer)."""
import os
import signal
import socket
import subprocess
import threading
import time


def _ip(*args, ns=None):
    cmd = (["ip", "netns", "exec", ns, "ip"] if ns else ["ip"]) + list(args)
    return subprocess.run(cmd, capture_output=True, text=True)


class Relay:
    """TCP relay from (addr, any port) to 127.0.0.1:target; cut() black-holes it."""

    def __init__(self, addr, target):
        self.target, self.stopped = target, False
        self.open = threading.Event()
        self.open.set()
        self.conns, self.lock = [], threading.Lock()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((addr, 0))
        self.sock.listen(128)
        self.sock.settimeout(0.3)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _wait_open(self):
        while not self.open.wait(0.2):
            if self.stopped:
                return False
        return not self.stopped

    def _accept(self):
        while not self.stopped:
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            threading.Thread(target=self._connect, args=(c,), daemon=True).start()

    def _connect(self, c):
        # a connection made during a cut waits, unanswered, like a SYN into a partition
        if not self._wait_open():
            c.close()
            return
        try:
            u = socket.create_connection(("127.0.0.1", self.target), timeout=5)
            u.settimeout(None)
        except OSError:
            c.close()
            return
        c.settimeout(None)
        pair = [c, u, 2]    # the two sockets, and how many of their pumps still run
        with self.lock:
            self.conns.append(pair)
        threading.Thread(target=self._pump, args=(c, u, pair), daemon=True).start()
        threading.Thread(target=self._pump, args=(u, c, pair), daemon=True).start()

    def _ended(self, pair):
        # the second pump to end closes both sockets: kept open until the campaign ended,
        # every connection ever relayed held two descriptors, and a 10-minute campaign at three
        # times the default load reached 20,000 and failed its own calls with EMFILE
        with self.lock:
            pair[2] -= 1
            last = pair[2] == 0
            if last:
                self.conns.remove(pair)
        if last:
            for s in pair[:2]:
                try:
                    s.close()
                except OSError:
                    pass

    def _pump(self, src, dst, pair):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if not self._wait_open():
                    break
                dst.sendall(data)
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            # a reset on one side (a PostgreSQL backend terminated while a query was on its
            # way) resets the other, as one TCP connection would: a client left waiting on a
            # relay whose far end is gone would hang where a real network does not
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        finally:
            self._ended(pair)

    def cut(self):
        self.open.clear()

    def restore(self):
        self.open.set()

    def close(self):
        self.stopped = True
        self.open.set()
        self.sock.close()
        with self.lock:
            for pair in self.conns:
                for s in pair[:2]:
                    try:
                        s.close()
                    except OSError:
                        pass


class NsHost:
    def __init__(self, tag, worker_id, worker_exe, env, log_path):
        self.ns = "amcbc%s" % tag
        self.veth = ("amcbc%s0" % tag, "amcbc%s1" % tag)
        self.worker_id, self.exe, self.env, self.log_path = worker_id, worker_exe, env, log_path
        self.relays, self.proc, self.made_ns = {}, None, False

    @staticmethod
    def permitted():
        """(True, "") when namespaces can be made here, else (False, why)."""
        probe = "amcbcprobe%d" % os.getpid()
        r = _ip("netns", "add", probe)
        if r.returncode != 0:
            return False, "ip netns add: " + (r.stderr.strip() or "not permitted")[:120]
        _ip("netns", "del", probe)
        return True, ""

    def setup(self, targets):
        """targets: {"redis": port, "pg": port, "sim": port} on 127.0.0.1. Returns the URLs the
        worker inside uses."""
        used = _ip("-o", "-4", "addr").stdout
        # start the search at a place of our own: two campaigns on one machine (other
        # worktrees) then rarely race for the same subnet
        start = os.getpid() % 250
        net = next((n for n in [(start + k) % 250 + 1 for k in range(250)] if "10.232.%d." % n not in used), None)
        if net is None:
            raise RuntimeError("no free 10.232.N.0/30")
        self.outer, self.inner = "10.232.%d.1" % net, "10.232.%d.2" % net
        if _ip("netns", "add", self.ns).returncode != 0:
            raise RuntimeError("ip netns add %s failed" % self.ns)
        self.made_ns = True
        steps = [(None, ["link", "add", self.veth[0], "type", "veth", "peer", "name", self.veth[1], "netns", self.ns]),
                 (None, ["addr", "add", self.outer + "/30", "dev", self.veth[0]]),
                 (None, ["link", "set", self.veth[0], "up"]),
                 (self.ns, ["addr", "add", self.inner + "/30", "dev", self.veth[1]]),
                 (self.ns, ["link", "set", self.veth[1], "up"]),
                 (self.ns, ["link", "set", "lo", "up"])]
        for ns, cmd in steps:
            r = _ip(*cmd, ns=ns)
            if r.returncode != 0:
                raise RuntimeError("ip %s: %s" % (" ".join(cmd), r.stderr.strip()))
        self.relays = {k: Relay(self.outer, p) for k, p in targets.items()}
        p = {k: r.port for k, r in self.relays.items()}
        self.env = dict(self.env, AMCBATCH_WORKER_ID=self.worker_id,
                        AMCBATCH_REDIS_URL="redis://%s:%d/0" % (self.outer, p["redis"]),
                        AMCBATCH_DATABASE_URL="postgresql://amcbatch@%s:%d/amcbatch" % (self.outer, p["pg"]),
                        AMCBATCH_AMC_BASE_URL="http://%s:%d" % (self.outer, p["sim"]),
                        AMCBATCH_AMC_TOKEN_URL="http://%s:%d/auth/o2/token" % (self.outer, p["sim"]))

    def start_worker(self):
        if self.alive():
            return
        with open(self.log_path, "ab") as log:
            # ip netns exec execs the worker itself: the Popen pid is the worker's
            self.proc = subprocess.Popen(["ip", "netns", "exec", self.ns, self.exe], env=self.env, stdout=log,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def pid(self):
        return self.proc.pid if self.alive() else None

    def signal(self, sig):
        if self.alive():
            try:
                os.kill(self.proc.pid, sig)
                return True
            except OSError:
                pass
        return False

    def wait(self, timeout):
        if self.proc is None:
            return True
        try:
            self.proc.wait(timeout=timeout)
            return True
        except subprocess.TimeoutExpired:
            return False

    def cut(self):
        self.relays["redis"].cut()

    def restore(self):
        if "redis" in self.relays:
            self.relays["redis"].restore()

    def teardown(self):
        """Stops the worker (SIGCONT, SIGTERM, then SIGKILL), the relays, the link and the
        namespace; returns the worker's exit status (None if it never ran)."""
        code = None
        self.restore()
        if self.alive():
            self.signal(signal.SIGCONT)
            self.signal(signal.SIGTERM)
            if not self.wait(20):
                self.proc.kill()
                self.proc.wait()
        if self.proc is not None:
            code = self.proc.returncode
        for r in self.relays.values():
            r.close()
        if _ip("link", "show", self.veth[0]).returncode == 0:
            _ip("link", "del", self.veth[0])
        if self.made_ns:
            _ip("netns", "del", self.ns)
            self.made_ns = False
        time.sleep(0.1)
        return code
