//! What Rust's std, tokio and hyper say in each situation of the book's chapter "Your runtime's
//! words": `cargo run --example runtimes -- API PLAN ADDR`, with API `std`, `tokio` or `hyper`,
//! PLAN the steps to take (as every client of `examples/runtimes/` reads it: `write:5 sleep:100
//! read`, or `get sleep:200 get`, `post:20000`) and ADDR the peer's (`rstlab serve`'s)
//! address. One line per step: `write 5: ok`, `read: ok(30)`, `read: EOF (Ok(0))`,
//! `get: 200 "hello\n"`, or the step and `ERROR` with the error as the library formats it.
//! `rstlab runtimes` runs it against the peer; it never checks anything itself.

use std::io::{Read, Write};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, api, plan, addr] = &args[..] else {
        eprintln!("usage: runtimes std|tokio|hyper PLAN ADDR");
        std::process::exit(2);
    };
    let steps: Vec<(&str, usize)> = plan
        .split_whitespace()
        .map(|s| match s.split_once(':') {
            Some((op, n)) => (op, n.parse().expect("a number")),
            None => (s, 0),
        })
        .collect();
    match api.as_str() {
        "std" => std_client(addr, &steps),
        "tokio" | "hyper" => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async {
                if api == "tokio" {
                    tokio_client(addr, &steps).await
                } else {
                    hyper_client(addr, &steps).await
                }
            }),
        _ => panic!("unknown API {api}"),
    }
}

fn std_client(addr: &str, steps: &[(&str, usize)]) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_nodelay(true).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    for &(op, n) in steps {
        match op {
            "write" => match s.write(&vec![b'x'; n]) {
                Ok(_) => println!("write {n}: ok"),
                Err(e) => println!("write {n}: ERROR {e}"),
            },
            "read" => {
                let mut buf = [0u8; 4096];
                match s.read(&mut buf) {
                    Ok(0) => println!("read: EOF (Ok(0))"),
                    Ok(k) => println!("read: ok({k})"),
                    Err(e) => println!("read: ERROR {e}"),
                }
            }
            "sleep" => std::thread::sleep(Duration::from_millis(n as u64)),
            _ => panic!("unknown step {op}"),
        }
    }
}

async fn tokio_client(addr: &str, steps: &[(&str, usize)]) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.set_nodelay(true).unwrap();
    for &(op, n) in steps {
        match op {
            "write" => match s.write(&vec![b'x'; n]).await {
                Ok(_) => println!("write {n}: ok"),
                Err(e) => println!("write {n}: ERROR {e}"),
            },
            "read" => {
                let mut buf = [0u8; 4096];
                match tokio::time::timeout(Duration::from_secs(2), s.read(&mut buf)).await {
                    Ok(Ok(0)) => println!("read: EOF (Ok(0))"),
                    Ok(Ok(k)) => println!("read: ok({k})"),
                    Ok(Err(e)) => println!("read: ERROR {e}"),
                    Err(_) => println!("read: nothing within 2 s"),
                }
            }
            "sleep" => tokio::time::sleep(Duration::from_millis(n as u64)).await,
            _ => panic!("unknown step {op}"),
        }
    }
}

/// hyper's pooled client (hyper-util's), as reqwest and most code use it: one connection kept
/// alive between requests.
async fn hyper_client(addr: &str, steps: &[(&str, usize)]) {
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let url: hyper::Uri = format!("http://{addr}/").parse().unwrap();
    for &(op, n) in steps {
        let request = match op {
            "get" => hyper::Request::get(url.clone()).body(Full::new(Bytes::new())),
            "post" => hyper::Request::post(url.clone()).body(Full::new(Bytes::from(vec![b'x'; n]))),
            "sleep" => {
                tokio::time::sleep(Duration::from_millis(n as u64)).await;
                continue;
            }
            _ => panic!("unknown step {op}"),
        }
        .unwrap();
        let result = async {
            let response = client.request(request).await?;
            let status = response.status().as_u16();
            let body = response.into_body().collect().await?.to_bytes();
            Ok::<_, Box<dyn std::error::Error>>((status, body))
        };
        match tokio::time::timeout(Duration::from_secs(3), result).await {
            Ok(Ok((status, body))) => {
                println!("{op}: {status} {:?}", String::from_utf8_lossy(&body))
            }
            Ok(Err(e)) => println!("{op}: ERROR {e:?}"),
            Err(_) => println!("{op}: no answer within 3 s"),
        }
    }
}
