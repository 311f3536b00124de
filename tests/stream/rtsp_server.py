"""A real RTSP server on loopback for the stream tests (GStreamer's gst-rtsp-server).

Run with Debian's ``/usr/bin/python3`` (the venv's Python cannot import ``gi``):

    /usr/bin/python3 tests/stream/rtsp_server.py VIDEO.mp4 PORT

serves the H.264 file at ``rtsp://127.0.0.1:PORT/test``, from its start to
every new client, and prints ``ready`` once listening. SIGTERM/SIGKILL stops it.
"""

import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def main() -> None:
    video, port = sys.argv[1], sys.argv[2]
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(port)
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(f"( filesrc location={video} ! qtdemux ! h264parse ! rtph264pay name=pay0 pt=96 )")
    server.get_mount_points().add_factory("/test", factory)
    if server.attach(None) == 0:
        sys.exit(f"could not listen on 127.0.0.1:{port}")
    loop = GLib.MainLoop()
    signal.signal(signal.SIGTERM, lambda *_: loop.quit())
    print("ready", flush=True)
    loop.run()


if __name__ == "__main__":
    main()
