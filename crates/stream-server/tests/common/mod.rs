//! A real server on 127.0.0.1 port 0 with test pipelines, and a real WebSocket client.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)] // Each test binary uses a different part of the helpers.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub mod http;

use futures_util::{SinkExt, StreamExt};
use stream_protocol::http::{PipelineInfo, PipelineSummary};
use stream_protocol::{FrameResult, ImageSize, ServerMessage};
use stream_server::{PipelineCatalog, Server, ServerConfig};
use stream_session::PipelineError;
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub use http::http_get;

pub const FRAME: &[u8] = include_bytes!("../../../../fixtures/images/astronaut_640x480.jpg");

/// Test pipelines: `echo` reports the frame size after a delay, `slow` takes 100 ms, `fail` fails,
/// `panic` panics on its second frame.
pub struct TestCatalog;

impl TestCatalog {
    const IDS: [&str; 4] = ["echo", "fail", "panic", "slow"];
}

impl PipelineCatalog for TestCatalog {
    fn list(&self) -> Vec<PipelineSummary> {
        Self::IDS.iter().map(|id| PipelineSummary { id: (*id).into(), name: format!("Test {id}") }).collect()
    }

    fn info(&self, id: &str) -> Option<PipelineInfo> {
        self.is_valid_pipeline(id).then(|| PipelineInfo {
            id: id.into(),
            name: format!("Test {id}"),
            node_count: 1,
            edge_count: 0,
            entry_nodes: vec!["header".into()],
            output_nodes: vec!["header".into()],
            classes: vec![],
            input_size: None,
            nodes: vec![],
        })
    }

    fn is_valid_pipeline(&self, id: &str) -> bool {
        Self::IDS.contains(&id)
    }

    /// Jobs run the same test pipelines on decoded frames: the result reports the frame's size.
    fn run_on_image(
        &self,
        pipeline_id: &str,
        frame_index: u64,
        frame: &pipeline_dag::stages::Frame,
    ) -> Result<FrameResult, PipelineError> {
        std::thread::sleep(Duration::from_millis(if pipeline_id == "slow" { 100 } else { 5 }));
        match pipeline_id {
            "fail" => return Err(PipelineError::Failed("YOLO inference failed".into())),
            "panic" if frame_index == 1 => panic!("test pipeline panics"),
            _ => {}
        }
        Ok(FrameResult::new(ImageSize { width: frame.width(), height: frame.height() }))
    }

    fn run_on_frame(
        &self,
        pipeline_id: &str,
        frame_index: u64,
        jpeg: &[u8],
    ) -> Result<FrameResult, PipelineError> {
        let delay = match pipeline_id {
            "slow" => 100,
            _ => 5,
        };
        std::thread::sleep(Duration::from_millis(delay));
        match pipeline_id {
            "fail" => return Err(PipelineError::Failed("YOLO inference failed".into())),
            "panic" if frame_index == 1 => panic!("test pipeline panics"),
            _ => {}
        }
        let info = frame_validate::validate_jpeg(jpeg, &Default::default())
            .map_err(|e| PipelineError::InvalidFrame(e.detail().into()))?;
        let mut result = FrameResult::new(ImageSize { width: info.width.into(), height: info.height.into() });
        result.timings_ms.record_ms("header", delay as f64);
        Ok(result)
    }
}

pub struct TestServer {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    pub task: JoinHandle<std::io::Result<()>>,
    /// The job store and uploads, when the test did not choose a data directory itself.
    pub data_dir: Option<tempfile::TempDir>,
}

impl TestServer {
    pub async fn start(config: ServerConfig) -> Self {
        Self::start_with(config, Arc::new(TestCatalog)).await
    }

    pub async fn start_with(mut config: ServerConfig, catalog: Arc<dyn PipelineCatalog>) -> Self {
        config.bind = "127.0.0.1:0".parse().unwrap();
        // Never write a job database into the source tree: the default data dir becomes a temporary one.
        let data_dir = (config.data_dir == ServerConfig::default().data_dir).then(|| {
            let dir = tempfile::tempdir().unwrap();
            config.data_dir = dir.path().to_owned();
            dir
        });
        let server = Server::bind(&config, catalog).await.unwrap();
        let addr = server.local_addr();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server.run(async move {
            let _ = stopped.await;
        }));
        Self { addr, stop: Some(stop), task, data_dir }
    }

    pub fn config() -> ServerConfig {
        ServerConfig {
            web_dir: "/nonexistent/web-ui/dist".into(),
            inference_threads: 2,
            ..ServerConfig::default()
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub async fn connect(&self, query: &str) -> Client {
        let url = format!("ws://{}/ws/video/stream{query}", self.addr);
        let (socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        Client { socket }
    }

    pub async fn get(&self, path: &str) -> (u16, String) {
        http_get(self.addr, path).await
    }

    /// Stops the server and waits for it to finish.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(Duration::from_secs(10), &mut self.task).await.unwrap().unwrap().unwrap();
    }
}

/// What a client receives.
#[derive(Debug, PartialEq)]
pub enum Reply {
    Message(ServerMessage),
    Close(u16),
    /// The connection ended without a close frame.
    Gone,
}

pub struct Client {
    pub socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Client {
    pub async fn send_frame(&mut self, bytes: &[u8]) {
        self.socket.send(Message::Binary(bytes.to_vec().into())).await.unwrap();
    }

    pub async fn reply(&mut self) -> Reply {
        loop {
            let next = tokio::time::timeout(Duration::from_secs(10), self.socket.next()).await.unwrap();
            return match next {
                Some(Ok(Message::Text(text))) => Reply::Message(ServerMessage::from_json(&text).unwrap()),
                Some(Ok(Message::Close(frame))) => Reply::Close(frame.map_or(1005, |f| u16::from(f.code))),
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => Reply::Gone,
            };
        }
    }

    /// Expects an error message with this code, then a close with its close code.
    pub async fn expect_error(&mut self, code: stream_protocol::ErrorCode) -> String {
        let reply = self.reply().await;
        let Reply::Message(ServerMessage::Error { error, detail }) = reply else { panic!("{reply:?}") };
        assert_eq!(error, code);
        assert_eq!(self.reply().await, Reply::Close(code.close_code().0));
        detail.into_owned()
    }
}

/// The value of a metric line (`name{labels} value`) in a Prometheus text page.
pub fn metric(page: &str, name_and_labels: &str) -> Option<f64> {
    page.lines()
        .find(|line| line.starts_with(name_and_labels) && line[name_and_labels.len()..].starts_with(' '))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}
