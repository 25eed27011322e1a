// Streams one JPEG to ForgeSyte Stream and prints the answer. Node >= 22 (Node 20: add --experimental-websocket).
// Usage: node client.mjs ws://127.0.0.1:8080/ws/video/stream?pipeline_id=yolo frame.jpg
import { readFileSync } from 'node:fs';
const [url, file] = process.argv.slice(2);
const ws = new WebSocket(url);
ws.onopen = () => ws.send(readFileSync(file));
ws.onmessage = (event) => {
  const msg = JSON.parse(event.data);
  for (const d of msg.result?.detections ?? []) console.log(d.class_name, d.confidence.toFixed(2), d.xyxy);
  if (msg.result?.text) console.log(msg.result.text);
  if (msg.error) console.log(msg.error, msg.detail);
  ws.close();
};
