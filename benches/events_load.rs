//! Live events under load: CLIENTS listeners of `/events` (a staff token: they get incident
//! events) while residents file RATE reports a second for SECONDS seconds, each about another
//! object (so each opens an incident and gives one event). For every report and every
//! listener: was the event delivered, and how long after the report was sent. Run by
//! `benches/events-load.sh`; by hand:
//!
//!   cargo bench --bench events_load -- URL TOKEN CLIENTS RATE SECONDS
//!
//! Prints the figures and exits non-zero on any answer that is not 201, any listener that
//! ended early, or any event lost.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// A listener's deliveries: (incident, microseconds since the start).
type Got = Vec<(u64, u64)>;

fn numbers(url: &str, token: &str, want: usize) -> Vec<String> {
    let agent: ureq::Agent = ureq::Agent::config_builder().build().into();
    let mut out = Vec::new();
    let mut after = 0u64;
    while out.len() < want {
        let page: serde_json::Value = agent
            .get(format!(
                "{url}/objects?layer=poles&limit=1000&after={after}"
            ))
            .header("Authorization", format!("Bearer {token}"))
            .call()
            .expect("objects")
            .body_mut()
            .read_json()
            .expect("objects JSON");
        let feats = page["features"].as_array().cloned().unwrap_or_default();
        if feats.is_empty() {
            break;
        }
        for f in &feats {
            if let Some(n) = f["properties"]["number"].as_str() {
                out.push(n.to_string());
            }
        }
        after = page["next_after"].as_u64().unwrap_or(u64::MAX);
        if after == u64::MAX {
            break;
        }
    }
    out.truncate(want);
    out
}

/// One listener: reads the SSE stream (chunked) and notes each incident event's arrival.
async fn listen(
    addr: String,
    token: String,
    start: Instant,
    got: Arc<Mutex<Got>>,
    ready: Arc<tokio::sync::Barrier>,
) -> Result<(), String> {
    let mut s = tokio::net::TcpStream::connect(&addr)
        .await
        .map_err(|e| e.to_string())?;
    let req = format!(
        "GET /events HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nAccept: text/event-stream\r\n\r\n"
    );
    s.write_all(req.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut r = BufReader::new(s);
    let mut line = String::new();
    r.read_line(&mut line).await.map_err(|e| e.to_string())?;
    if !line.contains(" 200 ") {
        return Err(format!("status line {line:?}"));
    }
    loop {
        line.clear();
        r.read_line(&mut line).await.map_err(|e| e.to_string())?;
        if line == "\r\n" {
            break;
        }
    }
    ready.wait().await;
    // Chunked transfer: the SSE text arrives in chunks; lines are read off the chunk data.
    let mut text = String::new();
    loop {
        line.clear();
        if r.read_line(&mut line).await.map_err(|e| e.to_string())? == 0 {
            break;
        }
        let size =
            usize::from_str_radix(line.trim(), 16).map_err(|_| format!("chunk size {line:?}"))?;
        if size == 0 {
            break;
        }
        let mut buf = vec![0u8; size + 2];
        tokio::io::AsyncReadExt::read_exact(&mut r, &mut buf)
            .await
            .map_err(|e| e.to_string())?;
        text.push_str(&String::from_utf8_lossy(&buf[..size]));
        while let Some(cut) = text.find("\n\n") {
            let block: String = text.drain(..cut + 2).collect();
            if block.contains("event: incident")
                && let Some(i) = block.find("\"incident\":")
            {
                let digits: String = block[i + 11..]
                    .chars()
                    .take_while(char::is_ascii_digit)
                    .collect();
                if let Ok(id) = digits.parse() {
                    // Kept at once: the listener is stopped from outside at the end.
                    got.lock()
                        .unwrap()
                        .push((id, start.elapsed().as_micros() as u64));
                }
            }
        }
    }
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let [url, token, clients, rate, seconds] = args.as_slice() else {
        eprintln!("usage: events_load URL TOKEN CLIENTS RATE SECONDS");
        std::process::exit(2);
    };
    let clients: usize = clients.parse().expect("CLIENTS");
    let rate: usize = rate.parse().expect("RATE");
    let seconds: usize = seconds.parse().expect("SECONDS");
    let total = rate * seconds;
    let nums = numbers(url, token, total);
    assert_eq!(
        nums.len(),
        total,
        "the store holds fewer poles than reports to file"
    );
    let addr = url.trim_start_matches("http://").to_string();
    let start = Instant::now();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let ready = Arc::new(tokio::sync::Barrier::new(clients + 1));
    let gots: Vec<Arc<Mutex<Got>>> = (0..clients)
        .map(|_| Arc::new(Mutex::new(Vec::new())))
        .collect();
    let handles: Vec<_> = gots
        .iter()
        .map(|g| {
            rt.spawn(listen(
                addr.clone(),
                token.clone(),
                start,
                g.clone(),
                ready.clone(),
            ))
        })
        .collect();
    rt.block_on(ready.wait());
    eprintln!(
        "{clients} listeners connected in {:.1} s",
        start.elapsed().as_secs_f64()
    );
    // Reports: RATE a second, paced, from 4 threads with one connection each.
    let sent: Arc<Mutex<HashMap<u64, u64>>> = Arc::new(Mutex::new(HashMap::new()));
    let errors = Arc::new(Mutex::new(Vec::<String>::new()));
    let began = Instant::now();
    let threads = 4;
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let (url, nums, sent, errors) =
                (url.clone(), nums.clone(), sent.clone(), errors.clone());
            std::thread::spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .build()
                    .into();
                for (k, n) in nums.iter().enumerate().filter(|(k, _)| k % threads == t) {
                    let due = began + Duration::from_secs_f64(k as f64 / rate as f64);
                    if let Some(wait) = due.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                    let at = start.elapsed().as_micros() as u64;
                    let body = serde_json::json!({"number": n, "kind": "light_out"});
                    match agent.post(format!("{url}/reports")).send_json(&body) {
                        Ok(mut r) if r.status().as_u16() == 201 => {
                            let v: serde_json::Value = r.body_mut().read_json().unwrap_or_default();
                            match v["incident"].as_u64() {
                                Some(id) => {
                                    sent.lock().unwrap().insert(id, at);
                                }
                                None => errors
                                    .lock()
                                    .unwrap()
                                    .push(format!("{n}: no incident in {v}")),
                            }
                        }
                        Ok(mut r) => {
                            let s = r.status().as_u16();
                            let t = r.body_mut().read_to_string().unwrap_or_default();
                            errors.lock().unwrap().push(format!("{n}: {s} {t}"));
                        }
                        Err(e) => errors.lock().unwrap().push(format!("{n}: {e}")),
                    }
                }
            })
        })
        .collect();
    for w in workers {
        let _ = w.join();
    }
    let filed = began.elapsed().as_secs_f64();
    // Let the last events arrive.
    std::thread::sleep(Duration::from_secs(3));
    let ended: Vec<String> = handles
        .iter()
        .filter(|h| h.is_finished())
        .map(|_| "a listener ended early".to_string())
        .collect();
    for h in &handles {
        h.abort();
    }
    let sent = sent.lock().unwrap().clone();
    let errors = errors.lock().unwrap().clone();
    let mut lat: Vec<u64> = Vec::with_capacity(sent.len() * clients);
    let mut lost = 0usize;
    let mut deliveries = 0usize;
    for g in &gots {
        let got = g.lock().unwrap();
        let seen: HashMap<u64, u64> = got.iter().copied().collect();
        deliveries += got.len();
        for (id, at) in &sent {
            match seen.get(id) {
                Some(t) => lat.push(t.saturating_sub(*at)),
                None => lost += 1,
            }
        }
    }
    lat.sort_unstable();
    let pct = |p: f64| -> f64 {
        if lat.is_empty() {
            return f64::NAN;
        }
        lat[((lat.len() as f64 - 1.0) * p).round() as usize] as f64 / 1000.0
    };
    println!(
        "reports filed: {} of {total} in {filed:.1} s ({:.1}/s); listeners: {clients}; deliveries: {deliveries} ({:.0}/s over the filing)",
        sent.len(),
        sent.len() as f64 / filed,
        deliveries as f64 / filed
    );
    println!(
        "report sent → event delivered: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; events lost: {lost}; error answers: {}; listeners ended early: {}",
        pct(0.5),
        pct(0.99),
        pct(1.0),
        errors.len(),
        ended.len()
    );
    for e in errors.iter().take(5) {
        eprintln!("*** {e}");
    }
    if !errors.is_empty() || lost > 0 || !ended.is_empty() || sent.len() != total {
        std::process::exit(1);
    }
}
