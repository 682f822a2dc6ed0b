//! `examples/serve/http_session.sh`, the README's session: Python's http.client and curl
//! against `rstlab serve`, each client's real error beside the oracle's prediction.

mod common;

use std::process::Command;

fn available(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The part of the session between the heading `## {n}.` and the next heading.
fn section(text: &str, n: usize) -> &str {
    let start = text
        .find(&format!("## {n}."))
        .unwrap_or_else(|| panic!("no section {n}"));
    let end = text[start + 3..]
        .find("## ")
        .map_or(text.len(), |i| start + 3 + i);
    &text[start..end]
}

#[test]
fn python_and_curl_meet_the_three_broken_servers_as_the_oracle_predicts() {
    if !(available("python3") && available("curl")) {
        common::skip(None, "the session needs python3 and curl");
        return;
    }
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/serve/http_session.sh"
    );
    let o = Command::new("bash")
        .args([script, env!("CARGO_BIN_EXE_rstlab")])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&o.stderr)
    );

    // 1. Keep-alive race. Python writes the second request on the closed connection: the write
    // succeeds and is lost, the read finds the FIN: "Remote end closed connection".
    let race = section(&text, 1);
    assert!(
        race.contains(
            "request 2: RemoteDisconnected: Remote end closed connection without response"
        ),
        "{race}"
    );
    assert!(
        race.contains("your write returned ok(68), but its bytes are lost"),
        "{race}"
    );
    assert!(race.contains("then returns EOF (0 bytes)"), "{race}");
    assert!(
        race.contains("summary: 1 connection played, 1 as scripted"),
        "{race}"
    );
    // curl looks before it reuses a connection: it reads the EOF the oracle predicts, closes
    // the stale connection instead of writing (its FIN comes, not data) and opens a second.
    assert!(race.contains("hello\nhello\ncurl: exit status 0"), "{race}");
    assert!(
        race.contains(
            "NOT SEEN: the peer's closed socket moved to TIME_WAIT: the client's FIN came, not data"
        ),
        "{race}"
    );
    assert!(
        race.contains("summary: 2 connections played, 1 as scripted\n"),
        "{race}"
    );

    // 2. Reset mid-response: the bytes before the RST are read, then ECONNRESET.
    let reset = section(&text, 2);
    assert!(
        reset.contains("request 1: ConnectionResetError: [Errno 104] Connection reset by peer"),
        "{reset}"
    );
    assert!(
        reset.contains("curl: (56) Recv failure: Connection reset by peer"),
        "{reset}"
    );
    assert!(reset.contains("body received:    h   e"), "{reset}");
    assert!(
        reset.contains("A read instead returns data (the 40 bytes the peer wrote, less what your program has read already), then fails with ECONNRESET (connection reset by peer)."),
        "{reset}"
    );

    // 3. Close with the request unread: RST, and the first read fails with ECONNRESET.
    let unread = section(&text, 3);
    assert!(
        unread.contains("request 1: ConnectionResetError: [Errno 104] Connection reset by peer"),
        "{unread}"
    );
    assert!(
        unread.contains("curl: (56) Recv failure: Connection reset by peer"),
        "{unread}"
    );
    assert!(
        unread.contains("close-with-unread-data-sends-rst"),
        "{unread}"
    );
    assert!(
        unread.contains("A read instead fails with ECONNRESET (connection reset by peer)."),
        "{unread}"
    );
    for s in [reset, unread] {
        assert_eq!(
            s.matches("summary: 1 connection played, 1 as scripted\n")
                .count(),
            2,
            "{s}"
        );
    }
}
