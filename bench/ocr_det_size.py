"""What a smaller OCR detector input costs in small text: the page fixture and both rendered sets
(fixtures/ocr-heldout, fixtures/ocr-unseen), each also shrunk to 80%, 65% and 50% of its size (pasted top-left on
a canvas of its own background colour, JPEG quality 90), read by the `ocr` pipeline (detector at 640x480) and by
the pipelines of bench/ocr-det-sizes/ (576x416, 512x384, 480x352). Prints the mean character and word error
rate per pipeline and scale, and each pipeline's median `ocr` time on the page fixture (the server's own
`timings_ms`, 10 runs per pipeline, alternated).

    target/release/stream-server --bind 127.0.0.1:8080 --log-level warn --job-workers 0 \
        --pipelines-dir bench/ocr-det-sizes &
    target/bench-venv/bin/python bench/ocr_det_size.py [ws://127.0.0.1:8080]
"""
import asyncio
import io
import json
import statistics
import sys
from pathlib import Path

import websockets
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
PIPELINES = ["ocr"] + sorted(p.stem for p in (ROOT / "bench" / "ocr-det-sizes").glob("*.json"))
SCALES = (1.0, 0.8, 0.65, 0.5)


def lines_of(text: str) -> str:
    return "\n".join(line.strip() for line in text.splitlines() if line.strip())


def edit_distance(a, b) -> int:
    row = list(range(len(a) + 1))
    for i, bi in enumerate(b):
        diagonal, row[0] = row[0], i + 1
        for j, aj in enumerate(a):
            diagonal, row[j + 1] = row[j + 1], min(diagonal + (aj != bi), row[j] + 1, row[j + 1] + 1)
    return row[len(a)]


def samples() -> list[tuple[Path, str]]:
    page = (FIXTURES / "images" / "page_640x480.jpg", FIXTURES / "expected" / "page_640x480.text.txt")
    sets = sorted((FIXTURES / "ocr-heldout").glob("*.jpg")) + sorted((FIXTURES / "ocr-unseen").glob("*.jpg"))
    return [(jpeg, lines_of(txt.read_text())) for jpeg, txt in [page] + [(j, j.with_suffix(".txt")) for j in sets]]


def shrunk(jpeg: Path, scale: float) -> bytes:
    if scale == 1.0:
        return jpeg.read_bytes()
    image = Image.open(jpeg).convert("RGB")
    canvas = Image.new("RGB", image.size, image.getpixel((1, 1)))
    canvas.paste(image.resize((int(image.width * scale), int(image.height * scale)), Image.BILINEAR), (0, 0))
    out = io.BytesIO()
    canvas.save(out, format="JPEG", quality=90)
    return out.getvalue()


async def read(ws, frame: bytes) -> dict:
    await ws.send(frame)
    message = json.loads(await ws.recv())
    if "result" not in message:
        sys.exit(f"unexpected answer: {message}")
    return message["result"]


async def score(url: str, frames: list[bytes], items: list[tuple[Path, str]]) -> str:
    """Mean CER / WER of one pipeline on one scale (a socket each: an idle one would time out meanwhile)."""
    cer, wer = [], []
    async with websockets.connect(url, max_size=None) as ws:
        for frame, (_, expected) in zip(frames, items):
            actual = (await read(ws, frame)).get("text", "")
            cer.append(edit_distance(list(actual), list(expected)) / len(expected))
            wer.append(edit_distance(actual.split(), expected.split()) / len(expected.split()))
    return f"{statistics.mean(cer):.4f} / {statistics.mean(wer):.3f}"


async def main() -> None:
    base = sys.argv[1] if len(sys.argv) > 1 else "ws://127.0.0.1:8080"
    items = samples()
    frames = {scale: [shrunk(jpeg, scale) for jpeg, _ in items] for scale in SCALES}
    url = f"{base}/ws/video/stream?pipeline_id="
    print(f"{len(items)} images (the page, {len(items) - 1} rendered); mean CER / WER per detector input and scale")
    print("pipeline      " + "".join(f"{f'scale {s:.2f}':>16}" for s in SCALES))
    for p in PIPELINES:
        cells = [await score(url + p, frames[scale], items) for scale in SCALES]
        print(f"{p:<14}" + "".join(f"{c:>16}" for c in cells))
    sockets = {p: await websockets.connect(url + p, max_size=None) for p in PIPELINES}
    times: dict[str, list[float]] = {p: [] for p in PIPELINES}
    for _ in range(10):
        for p, ws in sockets.items():
            times[p].append((await read(ws, frames[1.0][0]))["timings_ms"]["ocr"])
    print("page, median ocr ms: " + ", ".join(f"{p} {statistics.median(v):.0f}" for p, v in times.items()))
    for ws in sockets.values():
        await ws.close()


if __name__ == "__main__":
    asyncio.run(main())
