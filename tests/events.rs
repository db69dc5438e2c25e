//! Kubernetes Events against a fake API server that checks each request the
//! way the real one would: method, path, bearer token, content type, and the
//! Event object's required fields.

use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use zombie_cleaner::events::{ApiClient, EventError, EventType, PodEvent};

#[derive(Default, Clone)]
struct Seen(Arc<Mutex<Vec<(String, serde_json::Value)>>>);

async fn create_event(
    State(seen): State<Seen>,
    Path(ns): Path<String>,
    headers: HeaderMap,
    body: String,
) -> (StatusCode, String) {
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some("Bearer sa-token-1") {
        return (StatusCode::UNAUTHORIZED, "bad token".into());
    }
    if headers.get("content-type").and_then(|v| v.to_str().ok()) != Some("application/json") {
        return (StatusCode::UNSUPPORTED_MEDIA_TYPE, "json only".into());
    }
    let Ok(ev) = serde_json::from_str::<serde_json::Value>(&body) else {
        return (StatusCode::BAD_REQUEST, "not json".into());
    };
    // What the API server validates for core/v1 events.
    let ok = ev["apiVersion"] == "v1"
        && ev["kind"] == "Event"
        && ev["metadata"]["namespace"] == ns.as_str()
        && ev["metadata"]["generateName"].is_string()
        && ev["involvedObject"]["namespace"] == ns.as_str()
        && ev["reason"].is_string()
        && ["Normal", "Warning"].contains(&ev["type"].as_str().unwrap_or(""))
        && ev["source"]["component"] == "zombie-cleaner";
    if !ok {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("invalid event {ev}"),
        );
    }
    if let Ok(mut v) = seen.0.lock() {
        v.push((ns, ev));
    }
    (StatusCode::CREATED, "{}".into())
}

async fn fake_api() -> (String, Seen) {
    let seen = Seen::default();
    let app = Router::new()
        .route("/api/v1/namespaces/{ns}/events", post(create_event))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), seen)
}

fn event() -> PodEvent {
    PodEvent {
        namespace: "shop".into(),
        pod_name: "web-7d9".into(),
        pod_uid: Some("0b1c2d3e-0000-4000-8000-000000000001".into()),
        event_type: EventType::Normal,
        reason: "ZombiesCleaned",
        action: "Restart",
        message: "restarted container app: 3 zombies gone".into(),
    }
}

#[tokio::test]
async fn event_is_posted_on_the_pod() {
    let (url, seen) = fake_api().await;
    let dir = tempfile::tempdir().expect("tmp");
    let token = dir.path().join("token");
    std::fs::write(&token, "sa-token-1\n").expect("token");
    let client = ApiClient::plain_http(&url, token).expect("client");
    client.post("node-1", &event()).await.expect("posted");
    let seen = seen.0.lock().expect("lock").clone();
    assert_eq!(seen.len(), 1);
    let (ns, ev) = &seen[0];
    assert_eq!(ns, "shop");
    assert_eq!(ev["involvedObject"]["name"], "web-7d9");
    assert_eq!(ev["involvedObject"]["kind"], "Pod");
    assert_eq!(ev["reason"], "ZombiesCleaned");
    assert_eq!(ev["source"]["host"], "node-1");
}

#[tokio::test]
async fn refused_event_is_an_error_with_the_status() {
    let (url, seen) = fake_api().await;
    let dir = tempfile::tempdir().expect("tmp");
    let token = dir.path().join("token");
    std::fs::write(&token, "wrong").expect("token");
    let client = ApiClient::plain_http(&url, token).expect("client");
    let err = client.post("node-1", &event()).await.expect_err("refused");
    assert!(
        matches!(err, EventError::Status { status: 401, .. }),
        "{err}"
    );
    assert!(seen.0.lock().expect("lock").is_empty());
}

#[tokio::test]
async fn missing_token_names_the_file() {
    let (url, _) = fake_api().await;
    let client = ApiClient::plain_http(&url, "/nonexistent/token".into()).expect("client");
    let err = client.post("n", &event()).await.expect_err("no token");
    assert!(err.to_string().contains("/nonexistent/token"), "{err}");
}
