"""A real WSGI server (waitress) serving an app on 127.0.0.1 in a background thread."""

from __future__ import annotations

import logging
import threading
import urllib.request

from waitress.server import create_server


class LiveServer:
    """Serve `app` on a free localhost port until `stop()`; `url` is its base URL."""

    def __init__(self, app, threads: int = 4) -> None:
        self.server = create_server(app, host="127.0.0.1", port=0, threads=threads)
        self.url = f"http://127.0.0.1:{self.server.effective_port}"
        self._thread = threading.Thread(target=self._run, name="live-server", daemon=True)

    def _run(self) -> None:
        try:
            self.server.run()
        except Exception:  # closed under its feet by stop(): nothing to report
            if not getattr(self, "_stopping", False):
                raise

    def start(self) -> LiveServer:
        self._thread.start()
        # wait until the socket answers HTTP (any status is fine)
        for _ in range(100):
            try:
                urllib.request.urlopen(self.url + "/login/", timeout=2).close()
                break
            except urllib.error.HTTPError:
                break
            except OSError:
                threading.Event().wait(0.05)
        return self

    def stop(self) -> None:
        """Close every socket in waitress's map so its loop ends, then stop its workers."""
        self._stopping = True
        logging.getLogger("waitress").setLevel(logging.CRITICAL)
        while self.server._map:
            for channel in list(self.server._map.values()):
                channel.handle_close()
        self.server.task_dispatcher.shutdown()
        self._thread.join(timeout=5)

    def __enter__(self) -> LiveServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
