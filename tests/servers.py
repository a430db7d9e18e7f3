"""Real servers on loopback for the URL tests: nginx (an HTTP server honouring Range
requests, from Debian) and moto's S3 server, each on a free port, logging what it sent."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import threading
import time

import pytest

#: Access log lines: "<method> <uri> <status> <Range header> <body bytes sent>".
_NGINX_CONF = """
daemon off;
worker_processes 1;
{user}
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 256; }}
http {{
    default_type application/octet-stream;
    log_format ranges '$request_method $uri $status "$http_range" $body_bytes_sent';
    access_log {dir}/access.log ranges;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    server {{
        listen 127.0.0.1:{port};
        root {root};
        location /forbidden/ {{ return 403; }}
        location /dropped/ {{ return 444; }}
    }}
}}
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_listening(port, proc, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return True
        time.sleep(0.05)
    return False


class Nginx:
    """nginx serving ``root`` on 127.0.0.1:``port``; :meth:`sent` reads its access log."""

    def __init__(self, root, workdir):
        self.root, self.dir = str(root), str(workdir)
        self.proc = None
        self.port = None

    def start(self):
        exe = shutil.which("nginx") or "/usr/sbin/nginx"
        if not os.path.exists(exe):
            if os.environ.get("DASKFFT_REQUIRE_NGINX") == "1":
                pytest.fail("nginx is required here (DASKFFT_REQUIRE_NGINX=1): see .ci/servers.sh")
            pytest.skip("nginx is not installed (apt-get install nginx-light)")
        user = "user root root;" if os.geteuid() == 0 else ""
        for _ in range(5):  # a port taken between choosing and binding: choose again
            self.port = free_port()
            conf = os.path.join(self.dir, "nginx.conf")
            with open(conf, "w") as f:
                f.write(_NGINX_CONF.format(dir=self.dir, root=self.root, port=self.port, user=user))
            self.proc = subprocess.Popen(
                [exe, "-p", self.dir, "-c", conf, "-e", os.path.join(self.dir, "error.log")],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            if _wait_listening(self.port, self.proc):
                return self
            self.stop()
        with open(os.path.join(self.dir, "error.log")) as f:
            raise RuntimeError(f"nginx did not start: {f.read()}")

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def log(self):
        """The access log's entries so far: (method, uri, status, range, bytes)."""
        path = os.path.join(self.dir, "access.log")
        if not os.path.exists(path):
            return []
        out = []
        with open(path) as f:
            lines = f.readlines()
        for line in lines:
            method, uri, status, rest = line.split(" ", 3)
            rng, sent = rest.rsplit(" ", 1)
            out.append((method, uri, int(status), rng.strip('"'), int(sent)))
        return out

    def clear(self):
        open(os.path.join(self.dir, "access.log"), "w").close()


class _Counting:
    """WSGI middleware counting the bytes of every response body, by request."""

    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()
        self.entries = []
        self.fail = []  # statuses to answer the next requests with, in order
        self.keys = set()  # the access key ids requests were signed with
        self.fail_paths = {}  # path suffix -> the status every request for it answers
        self.broken_after = None  # from this many more requests on, every one answers 503
        self.counting = ""  # ...of those whose path holds this

    def break_after(self, requests, *, counting=""):
        """Answer 503 to every request once ``requests`` more of those whose path holds
        ``counting`` have been answered (None: heal)."""
        with self.lock:
            self.broken_after, self.counting = requests, counting

    def __call__(self, environ, start_response):
        signed = environ.get("HTTP_AUTHORIZATION", "")
        if "Credential=" in signed:
            self.keys.add(signed.split("Credential=", 1)[1].split("/", 1)[0])
        with self.lock:
            forced = self.fail.pop(0) if self.fail else None
            path = environ["PATH_INFO"]
            forced = next((v for k, v in self.fail_paths.items() if path.endswith(k)), forced)
            if forced is None and self.broken_after is not None:
                if self.broken_after <= 0:
                    forced = 503
                elif self.counting in environ["PATH_INFO"]:
                    self.broken_after -= 1
        if forced is not None:
            start_response(f"{forced} Forced", [("Content-Length", "0")])
            with self.lock:
                self.entries.append((environ["REQUEST_METHOD"], environ["PATH_INFO"], forced, 0))
            return [b""]
        seen = {}

        def start(status, headers, exc_info=None):
            seen["status"] = int(status.split()[0])
            return start_response(status, headers, exc_info)

        body = list(self.app(environ, start))
        with self.lock:
            self.entries.append(
                (
                    environ["REQUEST_METHOD"],
                    environ["PATH_INFO"],
                    seen.get("status"),
                    sum(len(b) for b in body),
                )
            )
        return body


class MotoS3:
    """moto's S3 server (its server mode) in this process, on 127.0.0.1, counting bytes."""

    def start(self):
        import logging

        from moto.moto_server.threaded_moto_server import ThreadedMotoServer
        from moto.server import DomainDispatcherApplication, create_backend_app
        from werkzeug.serving import make_server

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # its line a request
        self.app = _Counting(DomainDispatcherApplication(create_backend_app))
        self.server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.port = self.server.server_port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        del ThreadedMotoServer  # the same server moto's ThreadedMotoServer makes, wrapped
        return self

    @property
    def endpoint(self):
        return f"http://127.0.0.1:{self.port}"

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
