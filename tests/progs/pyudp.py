"""Python's UDP APIs under the preload: pyudp.py MODE ADDR PORT COUNT.

server: a blocking echo server (recvfrom, sendto) for COUNT datagrams.
blocking, selectors, asyncio: a client that sends COUNT datagrams to the
server and checks every echo, through blocking calls with a timeout,
through selectors (epoll), or through an asyncio datagram endpoint.
fork: bind, take one datagram, fork; the child answers through the
shared socket and exits; the parent takes and answers the rest.
Prints "ok N" and exits 0, or raises.
"""
import asyncio
import os
import selectors
import socket
import sys

mode, addr, port, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])


def server():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", port))
    s.settimeout(20)
    for _ in range(count):
        d, a = s.recvfrom(65536)
        s.sendto(d, a)
    print("ok", count)


def blocking():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(5)
    for i in range(count):
        msg = b"b%06d" % i
        s.sendto(msg, (addr, port))
        d, a = s.recvfrom(2048)
        assert d == msg and a == (addr, port), (d, a, msg)
    print("ok", count)


def selectors_client():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setblocking(False)
    s.connect((addr, port))
    sel = selectors.DefaultSelector()
    sel.register(s, selectors.EVENT_READ)
    for i in range(count):
        msg = b"s%06d" % i
        s.send(msg)
        ev = sel.select(timeout=5)
        assert ev, "no answer in 5 s"
        d = s.recv(2048)
        assert d == msg, (d, msg)
    print("ok", count, type(sel).__name__)


class Client(asyncio.DatagramProtocol):
    def __init__(self, done):
        self.done, self.i, self.t = done, 0, None

    def connection_made(self, t):
        self.t = t
        self.t.sendto(b"a%06d" % self.i)

    def datagram_received(self, d, a):
        assert d == b"a%06d" % self.i, (d, self.i)
        self.i += 1
        if self.i == count:
            self.done.set_result(self.i)
        else:
            self.t.sendto(b"a%06d" % self.i)


async def asyncio_client():
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    t, _ = await loop.create_datagram_endpoint(lambda: Client(done), remote_addr=(addr, port))
    n = await asyncio.wait_for(done, 20)
    t.close()
    print("ok", n)


def fork_server():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", port))
    s.settimeout(10)
    d, a = s.recvfrom(2048)
    s.sendto(d, a)
    pid = os.fork()
    if pid == 0:
        try:
            d, a = s.recvfrom(2048)
            s.sendto(b"child:" + d, a)
        finally:
            os._exit(0)
    for _ in range(count - 2):
        d, a = s.recvfrom(2048)
        s.sendto(d, a)
    _, status = os.waitpid(pid, 0)
    assert status == 0, status
    print("ok", count)


def fork_client():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(5)
    s.connect((addr, port))
    s.send(b"first")
    assert s.recv(2048) == b"first"
    s.send(b"second")
    assert s.recv(2048) in (b"child:second", b"second")
    for i in range(count - 2):
        msg = b"f%06d" % i
        s.send(msg)
        got = s.recv(2048)
        assert got in (msg, b"child:" + msg), (got, msg)
    print("ok", count)


def spawn_server():
    """An echo server that runs programs between datagrams (subprocess:
    vfork and exec; os.system): its socket, close-on-exec as Python makes
    them, stays accelerated."""
    import subprocess
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", port))
    s.settimeout(10)
    for i in range(count):
        d, a = s.recvfrom(2048)
        if i % 50 == 0:
            subprocess.run(["true"], check=True)
            assert os.system("true") == 0
        s.sendto(d, a)
    print("ok", count)


{"server": server, "spawn-server": spawn_server, "blocking": blocking, "selectors": selectors_client,
 "asyncio": lambda: asyncio.run(asyncio_client()),
 "fork-server": fork_server, "fork-client": fork_client}[mode]()
