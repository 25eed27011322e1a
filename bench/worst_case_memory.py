#!/usr/bin/env python3
"""Measures stream-server's memory under every memory attack at once, with its default limits.

Starts the given binary on a free port (default settings, a temporary data directory), then, all at the same
time: more sessions than the session limit each send 4.5 MiB of a 5 MiB frame and stall; two sessions send
39.6-Mpixel JPEGs (just under STREAM_MAX_PIXELS) to `yolo`; eight uploads send endless multipart preambles; 400
idle TCP connections sit silent. Prints the idle RSS, the peak (VmHWM) and the RSS after the attack, as
docs/operations.md ("Limits and hardening") reports them.

    target/bench-venv/bin/python bench/worst_case_memory.py target/release/stream-server

Needs the bench venv (bench/reference/setup.sh: websockets, Pillow).
"""

import asyncio
import io
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import websockets
from PIL import Image

MIB = 1024 * 1024


def status(pid: int, key: str) -> int:
    text = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(rf"^{key}:\s+(\d+) kB", text, re.M).group(1)) * 1024


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def big_jpeg() -> bytes:
    """A 6000 x 6600 JPEG (39.6 Mpixels): a gradient, so it stays small on the wire."""
    image = Image.linear_gradient("L").resize((6000, 6600)).convert("RGB")
    out = io.BytesIO()
    image.save(out, "JPEG", quality=30)
    return out.getvalue()


async def half_frame(port: int, hold: float) -> str:
    """A raw WebSocket that announces a 5 MiB binary frame and sends 4.5 MiB of it."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        b"GET /ws/video/stream?pipeline_id=yolo HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\n"
        b"Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    )
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 101"):
        return "refused"
    writer.write(b"\x82\xff" + (5 * MIB).to_bytes(8, "big") + b"\0\0\0\0")
    try:
        for _ in range(72):  # 4.5 MiB
            writer.write(bytes(64 * 1024))
            await asyncio.wait_for(writer.drain(), 5)
        await asyncio.sleep(hold)
        return "held"
    except (asyncio.TimeoutError, ConnectionError):
        return "stopped"
    finally:
        writer.close()


async def pixel_bomb(port: int, jpeg: bytes, seconds: float) -> int:
    answered = 0
    async with websockets.connect(f"ws://127.0.0.1:{port}/ws/video/stream?pipeline_id=yolo", max_size=None) as ws:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            await ws.send(jpeg)
            await ws.recv()
            answered += 1
    return answered


async def preamble(port: int, seconds: float) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        b"POST /v1/video/submit HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=X\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    chunk = b"10000\r\n" + b"p" * 0x10000 + b"\r\n"
    end = time.monotonic() + seconds
    try:
        while time.monotonic() < end:
            writer.write(chunk)
            await asyncio.wait_for(writer.drain(), 2)
    except (asyncio.TimeoutError, ConnectionError):
        pass
    writer.close()


async def idle(port: int, seconds: float) -> None:
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    await asyncio.sleep(seconds)
    writer.close()


async def attack(port: int, pid: int, jpeg: bytes) -> dict:
    seconds = 12.0
    tasks = [asyncio.create_task(idle(port, seconds)) for _ in range(400)]
    tasks += [asyncio.create_task(preamble(port, seconds)) for _ in range(8)]
    bombs = [asyncio.create_task(pixel_bomb(port, jpeg, seconds)) for _ in range(2)]
    halves = [asyncio.create_task(half_frame(port, seconds)) for _ in range(100)]
    peak_rss = 0
    while not all(t.done() for t in halves + bombs):
        peak_rss = max(peak_rss, status(pid, "VmRSS"))
        await asyncio.sleep(0.1)
    answered = [t.result() for t in bombs]
    for t in tasks:
        t.cancel()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    metrics = (await reader.read()).decode()
    writer.close()
    busy = re.search(r'^stream_errors\{code="server_busy"\} (\d+)', metrics, re.M)
    return {
        "sessions refused with server_busy (limit or frame budget)": int(busy.group(1)) if busy else 0,
        "40-Mpixel frames answered": sum(answered),
        "sampled peak RSS": peak_rss,
    }


def main() -> None:
    binary = sys.argv[1] if len(sys.argv) > 1 else "target/release/stream-server"
    port = free_port()
    with tempfile.TemporaryDirectory() as data:
        server = subprocess.Popen(
            [binary, "--bind", f"127.0.0.1:{port}", "--data-dir", data, "--log-level", "warn"],
            stdout=subprocess.DEVNULL,
        )
        try:
            for _ in range(600):
                try:
                    socket.create_connection(("127.0.0.1", port), 1).close()
                    break
                except OSError:
                    time.sleep(0.1)
            jpeg = big_jpeg()
            time.sleep(1)
            idle_rss = status(server.pid, "VmRSS")
            result = asyncio.run(attack(port, server.pid, jpeg))
            peak = status(server.pid, "VmHWM")
            time.sleep(3)
            after = status(server.pid, "VmRSS")
            alive = server.poll() is None
        finally:
            server.terminate()
            server.wait(10)
    print(f"binary: {binary} (default limits), JPEG of {len(jpeg) / MIB:.1f} MiB, 39.6 Mpixels")
    print(f"idle RSS: {idle_rss / MIB:.0f} MiB")
    for key, value in result.items():
        print(f"{key}: {value / MIB:.0f} MiB" if "RSS" in key else f"{key}: {value}")
    print(f"peak RSS (VmHWM): {peak / MIB:.0f} MiB; RSS 3 s after: {after / MIB:.0f} MiB; alive: {alive}")
    if not alive:
        sys.exit(1)


if __name__ == "__main__":
    main()
