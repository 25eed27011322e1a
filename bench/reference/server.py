"""Reference server for benchmarks: ForgeSyte Stream's `yolo` WebSocket protocol in the usual Python stack.

FastAPI + uvicorn (uvloop, httptools, websockets) + onnxruntime + numpy, JPEG decode with simplejpeg, resize
with Pillow. Same model, pre/post-processing and latest-frame-wins policy as the Rust server's `yolo`
pipeline (see README.md). Each uvicorn worker is a process that loads its own onnxruntime session.

    target/bench-venv/bin/python bench/reference/server.py --port 8091 [--model nanodet-plus-m]
        [--input-size 416] [--intra-threads 1] [--workers 2]
"""

import argparse
import asyncio
import logging
import os
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path

import numpy as np
from fastapi import FastAPI, WebSocket, WebSocketDisconnect

from nanodet import MODEL_FILES, MODELS_DIRS, Detector, InvalidFrame, find_model

log = logging.getLogger("reference")
MAX_FRAME_BYTES = 5 * 1024 * 1024
DROP_WINDOW, DROP_THRESHOLD, SLOWDOWN_THRESHOLD = 30, 0.10, 0.30


@asynccontextmanager
async def lifespan(app: FastAPI):
    env = os.environ
    threads = int(env.get("REFERENCE_INTRA_THREADS", "0")) or None
    detector = Detector(
        env.get("REFERENCE_MODEL", "nanodet-g"),
        int(env.get("REFERENCE_INPUT_SIZE", "416")),
        threads,
        env.get("REFERENCE_MODEL_PATH"),
    )
    detector.detect(np.full((480, 640, 3), 127, np.uint8))  # warm-up run
    app.state.detector = detector
    app.state.pool = ThreadPoolExecutor(int(env.get("REFERENCE_INFERENCE_THREADS", os.cpu_count() or 1)))
    yield
    app.state.pool.shutdown(wait=False, cancel_futures=True)


app = FastAPI(lifespan=lifespan)


@app.get("/v1/health")
async def health():
    d = app.state.detector
    return {"status": "healthy", "pipelines_loaded": ["yolo"], "model": d.path.name, "input_size": d.size}


@app.websocket("/ws/video/stream")
async def video_stream(ws: WebSocket, pipeline_id: str | None = None):
    await ws.accept()
    if pipeline_id != "yolo":
        detail = f"Unknown pipeline_id: {pipeline_id}" if pipeline_id else "Missing pipeline_id"
        await ws.send_json({"error": "invalid_pipeline", "detail": detail})
        await ws.close(1008)
        return
    await Session(ws).run()


class Session:
    """One connection: at most one frame in inference and one waiting; a newer frame replaces the waiting one."""

    def __init__(self, ws: WebSocket):
        self.ws, self.detector, self.pool = ws, ws.app.state.detector, ws.app.state.pool
        self.inference: asyncio.Task | None = None  # runs the frame in flight, then the waiting ones
        self.waiting: tuple[int, bytes] | None = None
        self.outcomes: deque[bool] = deque(maxlen=DROP_WINDOW)  # dropped or not, per valid frame
        self.warned = self.closed = False

    async def run(self) -> None:
        try:
            await self.receive()
        except WebSocketDisconnect:  # the client went away while we were sending
            pass
        finally:
            if self.inference:
                self.inference.cancel()

    async def receive(self) -> None:
        frame_index = 0
        while not self.closed:
            message = await self.ws.receive()
            if message["type"] == "websocket.disconnect":
                return
            data = message.get("bytes")
            if data is None:
                return await self.fail("invalid_message", "Expected binary frame payload", 1003)
            if len(data) > MAX_FRAME_BYTES:
                return await self.fail("frame_too_large", "Frame exceeds 5MB", 1009)
            if data[:2] != b"\xff\xd8" or data[-2:] != b"\xff\xd9":
                return await self.fail("invalid_frame", "Not a valid JPEG image", 1007)
            if self.inference is None:  # the pipeline is free: start at once
                self.inference = asyncio.create_task(self.infer(frame_index, data))
            else:
                replaced, self.waiting = self.waiting, (frame_index, data)
                if replaced:
                    await self.ws.send_json({"frame_index": replaced[0], "dropped": True})
                    await self.record(dropped=True)
            frame_index += 1

    async def infer(self, frame_index: int, data: bytes) -> None:
        """Runs frames off the event loop (in the thread pool) until none is waiting."""
        loop = asyncio.get_running_loop()
        try:
            while True:
                await self.record(dropped=False)
                try:
                    result = await loop.run_in_executor(self.pool, self.detector.process, data)
                except InvalidFrame:
                    return await self.fail("invalid_frame", "Not a valid JPEG image", 1007)
                except Exception:
                    log.exception("inference failed")
                    return await self.fail("pipeline_failure", "YOLO inference failed", 1011)
                await self.ws.send_json({"frame_index": frame_index, "result": result})
                if self.waiting is None:
                    return
                (frame_index, data), self.waiting = self.waiting, None
        except Exception as e:  # the client went away while we were sending
            log.debug("session ended: %r", e)
        finally:
            self.inference = None

    async def record(self, dropped: bool) -> None:
        """Drop rate over the window; one slow_down per overload episode (SPEC §3)."""
        self.outcomes.append(dropped)
        rate = sum(self.outcomes) / len(self.outcomes)
        if rate > SLOWDOWN_THRESHOLD and not self.warned:
            self.warned = True
            await self.ws.send_json({"warning": "slow_down", "drop_rate": round(rate, 3)})
        elif rate <= DROP_THRESHOLD:
            self.warned = False

    async def fail(self, code: str, detail: str, close_code: int) -> None:
        self.closed = True
        await self.ws.send_json({"error": code, "detail": detail})
        await self.ws.close(close_code)


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8091)
    parser.add_argument("--model", choices=sorted(MODEL_FILES), default="nanodet-g")
    parser.add_argument("--input-size", type=int, default=416, help="square model input, a multiple of 32")
    parser.add_argument(
        "--model-path", type=Path, help="the .onnx file (default: found in " + " or ".join(map(str, MODELS_DIRS)) + ")"
    )
    parser.add_argument("--intra-threads", type=int, default=0, help="onnxruntime intra-op threads (0: its default)")
    parser.add_argument(
        "--inference-threads",
        type=int,
        default=os.cpu_count(),
        help="frames in inference at once per worker (thread pool size; default: the cores)",
    )
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes, each with its own model")
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args()
    if args.input_size % 32:
        parser.error("--input-size must be a multiple of 32")
    path = args.model_path or find_model(args.model, args.input_size)
    os.environ.update(
        REFERENCE_MODEL=args.model,
        REFERENCE_INPUT_SIZE=str(args.input_size),
        REFERENCE_MODEL_PATH=str(Path(path).resolve()),
        REFERENCE_INTRA_THREADS=str(args.intra_threads),
        REFERENCE_INFERENCE_THREADS=str(args.inference_threads),
    )
    uvicorn.run(
        "server:app",
        app_dir=str(Path(__file__).parent),
        host="127.0.0.1",
        port=args.port,
        workers=args.workers,
        log_level=args.log_level,
    )


if __name__ == "__main__":
    main()
