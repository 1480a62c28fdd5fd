//! The exporter binary as an operator runs it, for the tests whose finding is about the process: its memory,
//! its threads, its signals and what reaches a socket. Logs are JSON, collected as they come; the child is
//! killed when the handle drops, so a failing assertion leaves nothing behind.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::DEADLINE;

/// A running exporter process.
pub struct Process {
    child: Child,
    pub addr: std::net::SocketAddr,
    logs: Arc<Mutex<Vec<serde_json::Value>>>,
}

impl Process {
    /// Starts the binary with only `env` (and JSON logs, a loopback port) and waits until it serves.
    pub fn start(env: &[(&str, String)]) -> Process {
        let mut command = Command::new(env!("CARGO_BIN_EXE_zenlayer-exporter"));
        command
            .env_clear()
            .env("ZENLAYER_EXPORTER_LISTEN_ADDRESS", "127.0.0.1:0")
            .env("ZENLAYER_EXPORTER_LOG_FORMAT", "json")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("the exporter starts");
        let stderr = child.stderr.take().expect("stderr");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        {
            let logs = logs.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    let Ok(event) = serde_json::from_str::<serde_json::Value>(&line) else {
                        continue;
                    };
                    if event["message"] == "serving /metrics" {
                        let _ = addr_tx.send(event["address"].as_str().unwrap_or("").to_owned());
                    }
                    logs.lock().unwrap().push(event);
                }
            });
        }
        let addr = match addr_rx.recv_timeout(DEADLINE) {
            Ok(addr) => addr.parse().expect("an address"),
            Err(e) => {
                let status = child.wait();
                panic!(
                    "the exporter did not serve ({e}; {status:?}): {:?}",
                    logs.lock().unwrap()
                );
            }
        };
        Process { child, addr, logs }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Sends `signal` (`HUP`, `TERM`) to the process.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.pid().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{signal}");
    }

    /// A field of `/proc/PID/status` in kB (`VmRSS`, `VmHWM`) or as a count (`Threads`).
    pub fn status_field(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("/proc/PID/status");
        status
            .lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or_else(|| panic!("{field} in /proc/PID/status"))
    }

    /// CPU time the process has used (user and system), in seconds.
    pub fn cpu_seconds(&self) -> f64 {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).expect("/proc/PID/stat");
        // After the command name in parentheses: state is field 3, utime and stime fields 14 and 15.
        let fields: Vec<&str> = stat[stat.rfind(')').expect("comm") + 2..]
            .split(' ')
            .collect();
        let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
        // SAFETY: sysconf has no preconditions.
        ticks as f64 / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
    }

    /// Samples the process' thread count every 2 ms until the returned guard drops; the guard tells the most
    /// seen.
    pub fn watch_threads(&self) -> ThreadWatch {
        let (pid, most, stop) = (
            self.pid(),
            Arc::new(std::sync::atomic::AtomicU64::new(0)),
            Arc::new(std::sync::atomic::AtomicBool::new(false)),
        );
        let (seen, stopped) = (most.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stopped.load(std::sync::atomic::Ordering::SeqCst) {
                if let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
                    let threads = status
                        .lines()
                        .find_map(|l| l.strip_prefix("Threads:"))
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                    seen.fetch_max(threads, std::sync::atomic::Ordering::SeqCst);
                }
                std::thread::sleep(Duration::from_millis(2));
            }
        });
        ThreadWatch { most, stop }
    }

    /// Peak resident memory so far, in MB.
    pub fn peak_rss_mb(&self) -> f64 {
        self.status_field("VmHWM") as f64 / 1024.0
    }

    /// Every log event so far whose message is `message`.
    pub fn logged(&self, message: &str) -> Vec<serde_json::Value> {
        self.logs
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e["message"] == message)
            .cloned()
            .collect()
    }

    /// Every log event so far, one line each, for a failing assertion's message.
    pub fn log_text(&self) -> String {
        let logs = self.logs.lock().unwrap();
        logs.iter().map(|e| format!("{e}\n")).collect()
    }

    /// Waits until `count` log events whose message is `message` have come, and returns the last.
    pub fn wait_logged(&self, message: &str, count: usize) -> serde_json::Value {
        let start = Instant::now();
        loop {
            let events = self.logged(message);
            if events.len() >= count {
                return events[count - 1].clone();
            }
            assert!(
                start.elapsed() < DEADLINE,
                "no {message:?} logged within {DEADLINE:?}:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A running sample of a process' thread count.
pub struct ThreadWatch {
    most: Arc<std::sync::atomic::AtomicU64>,
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl ThreadWatch {
    /// The most threads seen so far.
    pub fn most(&self) -> u64 {
        self.most.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Drop for ThreadWatch {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
