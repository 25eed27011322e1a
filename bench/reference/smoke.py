"""Smoke test of a running server (the reference, or ours) over real WebSockets.

Checks: health; unknown pipeline -> invalid_pipeline + close 1008; text -> invalid_message + 1003; a broken
JPEG -> invalid_frame + 1007; one frame at a time -> a result each; a burst -> every frame answered exactly once
(results in order, the rest dropped); several concurrent sessions at a steady rate. Exit status 0 when all pass.

    target/bench-venv/bin/python bench/reference/smoke.py --url ws://127.0.0.1:8091 [--sessions 4]
"""

import argparse
import asyncio
import json
import sys
import time
import urllib.request
from pathlib import Path

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

FRAMES = [p.read_bytes() for p in sorted((Path(__file__).resolve().parents[2] / "fixtures" / "images").glob("*.jpg"))]


async def expect_error(url: str, payload, code: str, close_code: int, path="/ws/video/stream?pipeline_id=yolo"):
    async with connect(url + path) as ws:
        if payload is not None:
            await ws.send(payload)
        message = json.loads(await ws.recv())
        assert message.get("error") == code, message
        try:
            await ws.recv()
            raise AssertionError("no close after the error")
        except ConnectionClosed as closed:
            assert closed.rcvd and closed.rcvd.code == close_code, closed
    print(f"ok   {code}: {message['detail']!r}, close {close_code}")


async def stream(url: str, n_frames: int, fps: float | None, first: int = 0) -> dict:
    """Sends n_frames (at fps, or as fast as possible), collects one answer per frame."""
    answers, sent_at, rtts = {}, [], []
    async with connect(url + "/ws/video/stream?pipeline_id=yolo", max_size=None) as ws:

        async def reader():
            while len(answers) < n_frames:
                message = json.loads(await ws.recv())
                if "warning" in message:
                    continue
                index = message["frame_index"]
                assert index not in answers, f"frame {index} answered twice"
                answers[index] = message
                if "result" in message:
                    rtts.append((time.perf_counter() - sent_at[index]) * 1e3)

        task = asyncio.create_task(reader())
        for i in range(n_frames):
            sent_at.append(time.perf_counter())
            await ws.send(FRAMES[(first + i) % len(FRAMES)])
            if fps:
                await asyncio.sleep(1 / fps)
        await asyncio.wait_for(task, timeout=30)
    results = [i for i, m in sorted(answers.items()) if "result" in m]
    drops = [i for i, m in answers.items() if m.get("dropped") is True]
    assert sorted(answers) == list(range(n_frames)), "not every frame answered"
    assert len(results) + len(drops) == n_frames, answers
    return {
        "answers": answers,
        "results": len(results),
        "drops": len(drops),
        "rtt_p50": sorted(rtts)[len(rtts) // 2] if rtts else None,
    }


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default="ws://127.0.0.1:8091")
    parser.add_argument("--sessions", type=int, default=4)
    parser.add_argument("--fps", type=float, default=15)
    parser.add_argument("--frames", type=int, default=45, help="frames per concurrent session")
    args = parser.parse_args()
    health = json.load(urllib.request.urlopen(args.url.replace("ws://", "http://") + "/v1/health"))
    assert health["status"] == "healthy", health
    print(f"ok   health: {health}")

    await expect_error(args.url, None, "invalid_pipeline", 1008, "/ws/video/stream?pipeline_id=yolo_foo")
    await expect_error(args.url, None, "invalid_pipeline", 1008, "/ws/video/stream")
    await expect_error(args.url, "hello", "invalid_message", 1003)
    await expect_error(args.url, b"\xff\xd8not a jpeg\xff\xd9", "invalid_frame", 1007)

    one = await stream(args.url, len(FRAMES), fps=2)  # slower than the model: no drop
    for i, message in sorted(one["answers"].items()):
        result = message["result"]
        found = ", ".join(f"{d['class_name']} {d['confidence']:.2f}" for d in result["detections"])
        print(f"     frame {i}: {result['image']}, {result['count']} detections ({found}), {result['timings_ms']}")
    assert one["drops"] == 0, "a slow client saw a drop"
    print(f"ok   one frame at a time: {one['results']} results, 0 drops, round trip p50 {one['rtt_p50']:.1f} ms")

    burst = await stream(args.url, 20, fps=None)  # 20 frames back to back: most are replaced while waiting
    assert burst["drops"] > 0 and burst["results"] >= 2, burst
    print(f"ok   burst of 20: {burst['results']} results, {burst['drops']} dropped, each answered once, in order")

    started = time.perf_counter()
    many = await asyncio.gather(*(stream(args.url, args.frames, args.fps, first=i) for i in range(args.sessions)))
    elapsed = time.perf_counter() - started
    total = sum(s["results"] for s in many)
    for i, s in enumerate(many):
        print(f"     session {i}: {s['results']} results, {s['drops']} drops, round trip p50 {s['rtt_p50']:.1f} ms")
    assert all(s["results"] > 0 for s in many)
    print(
        f"ok   {args.sessions} concurrent sessions x {args.fps} fps x {args.frames} frames: every frame answered "
        f"once, {total / elapsed:.1f} results/s overall"
    )
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
