"""Per-stage timings of one camera: sends the detection fixtures to a running server at FPS frames per second, one
at a time, and prints the median round trip and the median of each `timings_ms` entry the results carry
(`decode`, then one per node).

    target/bench-venv/bin/python bench/stage_timings.py [URL] [FRAMES] [FPS]
    # URL default ws://127.0.0.1:8080/ws/video/stream?pipeline_id=yolo, 60 frames, 5 FPS; the first 5 not counted
"""
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path

import websockets

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "images"
NAMES = ("astronaut", "chelsea", "coffee", "motorcycle_left")


async def main() -> None:
    url = sys.argv[1] if len(sys.argv) > 1 else "ws://127.0.0.1:8080/ws/video/stream?pipeline_id=yolo"
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 60
    fps = float(sys.argv[3]) if len(sys.argv) > 3 else 5.0
    frames = [(FIXTURES / f"{n}_640x480.jpg").read_bytes() for n in NAMES]
    stages: dict[str, list[float]] = {}
    round_trips = []
    async with websockets.connect(url, max_size=None) as ws:
        for i in range(count):
            started = time.perf_counter()
            await ws.send(frames[i % len(frames)])
            message = json.loads(await ws.recv())
            elapsed = (time.perf_counter() - started) * 1000
            if "result" not in message:
                sys.exit(f"frame {i}: {message}")
            if i >= 5:
                round_trips.append(elapsed)
                for stage, ms in message["result"].get("timings_ms", {}).items():
                    stages.setdefault(stage, []).append(ms)
            await asyncio.sleep(max(0.0, 1 / fps - elapsed / 1000))
    medians = ", ".join(f"{stage} {statistics.median(v):.2f} ms" for stage, v in stages.items())
    print(f"round trip p50 {statistics.median(round_trips):.2f} ms; {medians}")


if __name__ == "__main__":
    asyncio.run(main())
