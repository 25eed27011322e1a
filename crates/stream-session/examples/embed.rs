//! Embedding a ForgeSyte session in another Rust service, without the server.
//!
//! The service brings its own transport (here: in-process channels) and its own pipeline (here: one that
//! reads the frame size from the JPEG header). The session crate brings the contract: validation, one frame
//! in flight and one waiting, drop notices, `slow_down`, error codes.
//!
//! Run it with `cargo run -p stream-session --example embed`.
#![allow(clippy::print_stdout, clippy::unwrap_used)] // An example prints and keeps error handling short.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use stream_protocol::{FrameResult, ImageSize, ServerMessage};
use stream_session::{
    FrameJob, FramePipeline, Inbound, Outbound, PipelineError, SessionConfig, SessionManager, run_session,
};

/// Your model goes here. This one takes 40 ms and reports the frame's size.
struct MyPipeline;

impl FramePipeline for MyPipeline {
    // Not `async fn`: the future must be `'static` (it runs on its own task), so it must not borrow `self`.
    #[allow(clippy::manual_async_fn)]
    fn process(
        &self,
        job: FrameJob,
    ) -> impl Future<Output = Result<FrameResult, PipelineError>> + Send + 'static {
        async move {
            tokio::time::sleep(Duration::from_millis(40)).await;
            let info = frame_validate::validate_jpeg(&job.jpeg, &Default::default())
                .map_err(|e| PipelineError::InvalidFrame(e.detail().into()))?;
            Ok(FrameResult::new(ImageSize { width: info.width.into(), height: info.height.into() }))
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let jpeg = Bytes::from(
        std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/images/astronaut_640x480.jpg"))
            .unwrap(),
    );

    // Your transport: anything that is a Stream of `Inbound` and a Sink of `Outbound`.
    let (client, inbound) = futures_channel::mpsc::unbounded::<Inbound>();
    let (outbound, mut replies) = futures_channel::mpsc::unbounded::<Outbound>();

    let config = SessionConfig { idle_timeout: Duration::from_secs(5), ..SessionConfig::default() };
    let session = SessionManager::new("my-pipeline", config);
    let task = tokio::spawn(async move {
        let sink = outbound.sink_map_err(|_| ());
        run_session(session, inbound, sink, Arc::new(MyPipeline), &(), std::future::pending()).await
    });

    // A client sending at 50 FPS into a 25 FPS pipeline: some frames are dropped, none queue up.
    for _ in 0..20 {
        client.unbounded_send(Inbound::Frame(jpeg.clone())).unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    drop(client);

    while let Some(Outbound::Text(json)) = replies.next().await {
        match ServerMessage::from_json(&json).unwrap() {
            ServerMessage::Result { frame_index, result } => {
                println!("frame {frame_index}: {}x{}", result.image.width, result.image.height);
            }
            other => println!("{json} ({other:?})"),
        }
    }
    let summary = task.await.unwrap();
    println!("{} frames: {} processed, {} dropped", summary.frames, summary.processed, summary.dropped);
}
