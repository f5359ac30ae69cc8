//! A custom runtime as a static Rust binary (std only): speaks the Runtime API over a
//! TcpStream, runs threads, a child process and a loopback TCP echo per event.
//! Built by tests/test_seccomp.py with `rustc -C target-feature=+crt-static`.
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::thread;

fn http(api: &str, method: &str, path: &str, body: &str) -> String {
    let mut s = TcpStream::connect(api).expect("connect to the Runtime API");
    write!(
        s,
        "{method} /2018-06-01/runtime{path} HTTP/1.0\r\nHost: {api}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

fn main() {
    let api = std::env::var("AWS_LAMBDA_RUNTIME_API").unwrap();
    loop {
        let next = http(&api, "GET", "/invocation/next", "");
        let id = next
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("lambda-runtime-aws-request-id").then(|| v.trim().to_string())
            })
            .expect("a request id");
        let sums: u64 = (0..4u64)
            .map(|n| thread::spawn(move || (0..100_000u64).map(|i| i * n).sum::<u64>()))
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| h.join().unwrap())
            .sum();
        let child = Command::new("/bin/sh").args(["-c", "exit 6"]).status().unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let echo = thread::spawn(move || {
            let (mut c, _) = listener.accept().unwrap();
            let mut b = [0u8; 4];
            c.read_exact(&mut b).unwrap();
            c.write_all(&b).unwrap();
        });
        let mut c = TcpStream::connect(addr).unwrap();
        c.write_all(b"rust").unwrap();
        let mut b = [0u8; 4];
        c.read_exact(&mut b).unwrap();
        echo.join().unwrap();
        let answer = format!(
            "{{\"static\": \"rust\", \"sum\": {sums}, \"child\": {}, \"echo\": \"{}\"}}",
            child.code().unwrap_or(-1),
            String::from_utf8_lossy(&b)
        );
        http(&api, "POST", &format!("/invocation/{id}/response"), &answer);
    }
}
