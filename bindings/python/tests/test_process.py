import os
import socket
import subprocess
import sys

import splinter

from conftest import HERE


def test_another_python_process_sees_the_store(name):
    with splinter.create(name, slots=64, vec_dim=0) as st:
        st["from-parent"] = b"hi"
        code = ("import splinter, sys\n"
                "with splinter.open(sys.argv[1]) as s:\n"
                "    assert s['from-parent'] == b'hi'\n"
                "    s['from-child'] = b'hello'\n")
        env = dict(os.environ, PYTHONPATH=os.path.dirname(HERE))
        subprocess.run([sys.executable, "-c", code, name], check=True, env=env)
        assert st["from-child"] == b"hello"


def test_fd_passing_over_a_unix_socket():
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with a, b, splinter.create(None, backing="memfd", slots=16, vec_dim=0) as st:
        st["anon"] = b"shared"
        splinter.send_fd(a, st.fileno())
        fd = splinter.recv_fd(b)
        try:
            with splinter.Store.from_fd(fd) as other:
                assert other["anon"] == b"shared"
                other["back"] = b"!"
                assert other.info().backing == splinter.Backing.MEMFD
            with splinter.Store.from_fd(fd, readonly=True) as ro:
                assert ro.readonly
        finally:
            os.close(fd)
        assert st["back"] == b"!"
