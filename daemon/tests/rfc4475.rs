//! RFC 4475 ("SIP Torture Test Messages"): all 49 messages, byte for byte from the RFC's own
//! archive (`tests/rfc4475/*.dat`, see its README), sent to a real daemon over UDP and over
//! TCP, each with the answer the RFC asks of an element in callgate's place.
//!
//! callgate is a redirect server for INVITEs (302 or 403 with `X-Callgate-Decision`), a UAS
//! that answers OPTIONS (200), absorbs ACK, answers CANCEL 481, and refuses every other
//! method: 405 for one it recognizes (RFC 3261 §8.2.1), 501 for one it does not (§21.5.2),
//! both with `Allow`. It never sends a response it was sent (responses are dropped), and it
//! never reads a body. Where the RFC leaves a choice, the case says which one and why.
//!
//! Every answer must be a well-formed response (status line, `name: value` lines free of
//! control characters, one From, To, Call-ID and CSeq, a Via, `Content-Length: 0`) that
//! echoes the request's Call-ID and CSeq (RFC 3261 §8.2.6.2).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a test binary: a step that fails is a failed test"
)]

#[path = "support/daemon.rs"]
mod daemon;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

/// What one answer must be.
#[derive(Debug, Clone, Copy)]
enum Answer {
    /// An INVITE decided: 302 or 403 with `X-Callgate-Decision`.
    Decision,
    /// This status, and nothing more to check than well-formedness.
    Status(u16),
    /// 405 or 501 with an `Allow` listing INVITE.
    Refused(u16),
    /// 420 with `Unsupported` naming exactly these option tags.
    BadExtension(&'static str),
}

/// What a message gets over one transport: these answers in order, then (TCP) whether the
/// daemon closes the connection.
#[derive(Debug, Clone, Copy)]
struct Outcome {
    answers: &'static [Answer],
    closes: bool,
}

const fn one(a: &'static [Answer]) -> Outcome {
    Outcome {
        answers: a,
        closes: false,
    }
}

const NONE: Outcome = Outcome {
    answers: &[],
    closes: false,
};

struct Case {
    file: &'static str,
    section: &'static str,
    /// The RFC's sentence(s) this case checks, and where the RFC leaves a choice, which one
    /// callgate takes and why.
    rfc: &'static str,
    udp: Outcome,
    tcp: Outcome,
}

const DECISION: &[Answer] = &[Answer::Decision];
const OK: &[Answer] = &[Answer::Status(200)];
const BAD: &[Answer] = &[Answer::Status(400)];
const NOT_IMPLEMENTED: &[Answer] = &[Answer::Refused(501)];
const NOT_ALLOWED: &[Answer] = &[Answer::Refused(405)];

/// Both transports alike.
const fn both(file: &'static str, section: &'static str, rfc: &'static str, o: Outcome) -> Case {
    Case {
        file,
        section,
        rfc,
        udp: o,
        tcp: o,
    }
}

const CASES: &[Case] = &[
    // --- §3.1.1 Valid Messages -------------------------------------------------------------
    both(
        "wsinv.dat",
        "3.1.1.1",
        "\"All elements should treat this as a well-formed request.\" (folding, LWS around `:` \
         and `/`, compact forms, leading zeros in Max-Forwards and CSeq)",
        one(DECISION),
    ),
    both(
        "intmeth.dat",
        "3.1.1.2",
        "\"Endpoints will generate a 501 listing the methods they understand in an Allow \
         header field.\" The To display name holds escaped NUL, BEL and DEL: the answer's To \
         drops the display name (RFC 3261 §20.39: it does not affect matching)",
        one(NOT_IMPLEMENTED),
    ),
    both(
        "esc01.dat",
        "3.1.1.3",
        "\"A parser must accept this as a well-formed message.\"",
        one(DECISION),
    ),
    both(
        "escnull.dat",
        "3.1.1.4",
        "\"The message is well formed - parsers must accept this message.\" A REGISTER: \
         callgate is no registrar, so 405 (\"Endpoints choosing not to act as registrars will \
         simply reject the request. A 405 Method Not Allowed is appropriate.\", §3.3.7)",
        one(NOT_ALLOWED),
    ),
    both(
        "esc02.dat",
        "3.1.1.5",
        "\"The request method is unknown.  It is NOT equivalent to REGISTER.\" … \"An endpoint \
         would reject this message with a 501.\"",
        one(NOT_IMPLEMENTED),
    ),
    both(
        "lwsdisp.dat",
        "3.1.1.6",
        "\"Elements should accept this request as well formed.\"",
        one(OK),
    ),
    both(
        "longreq.dat",
        "3.1.1.7",
        "\"This well-formed request contains header fields with many values and values that \
         are very long.\"",
        one(DECISION),
    ),
    Case {
        file: "dblreq.dat",
        section: "3.1.1.8",
        rfc: "\"A SIP element receiving this datagram would handle the REGISTER request \
              normally and ignore the extra bits that look like an INVITE request.\" (405: no \
              registrar.) On a stream there are no datagram bounds: after the REGISTER's \
              `Content-Length: 0` the INVITE is the next message (RFC 3261 §18.3), decided",
        udp: one(NOT_ALLOWED),
        tcp: one(&[Answer::Refused(405), Answer::Decision]),
    },
    both(
        "semiuri.dat",
        "3.1.1.9",
        "\"Receiving elements will accept this as a well-formed message.\"",
        one(OK),
    ),
    both(
        "transports.dat",
        "3.1.1.10",
        "\"Parsers must accept this message as well formed.\"",
        one(OK),
    ),
    both(
        "mpart01.dat",
        "3.1.1.11",
        "\"Parsers must accept this message as well formed, even if the application above the \
         parser does not support multipart/signed.\" A MESSAGE: recognized, not served, 405",
        one(NOT_ALLOWED),
    ),
    both(
        "unreason.dat",
        "3.1.1.12",
        "\"This response is well formed.\" A response to nothing callgate sent: not answered",
        NONE,
    ),
    both(
        "noreason.dat",
        "3.1.1.13",
        "\"This well-formed response contains no reason phrase.\" Not answered",
        NONE,
    ),
    // --- §3.1.2 Invalid Messages -----------------------------------------------------------
    both(
        "badinv01.dat",
        "3.1.2.1",
        "\"An element receiving this request should respond with a 400 Bad Request error.\" \
         (the answer's Via is the readable part of the malformed one)",
        one(BAD),
    ),
    Case {
        file: "clerr.dat",
        section: "3.1.2.2",
        rfc: "\"When sent over UDP (as this message ostensibly was), the receiving element \
              should respond with a 400 Bad Request error.  If this message arrived over a \
              stream-based transport, such as TCP, there's not much the receiving party could \
              do but wait for more data on the stream and close the connection if none is \
              forthcoming within a reasonable period of time.\"",
        udp: one(BAD),
        tcp: Outcome {
            answers: &[],
            closes: true,
        },
    },
    Case {
        file: "ncl.dat",
        section: "3.1.2.3",
        rfc: "\"An element receiving this message should respond with an error.  This request \
              appeared over UDP, so the remainder of the datagram can simply be discarded.  If \
              a request like this arrives over TCP, the framing error is not recoverable, and \
              the connection should be closed.\"",
        udp: one(BAD),
        tcp: Outcome {
            answers: BAD,
            closes: true,
        },
    },
    both(
        "scalar02.dat",
        "3.1.2.4",
        "\"An element receiving this request should respond with a 400 Bad Request due to the \
         CSeq error.\"",
        one(BAD),
    ),
    both(
        "scalarlg.dat",
        "3.1.2.5",
        "\"An element receiving this response will simply discard it.\"",
        NONE,
    ),
    both(
        "quotbal.dat",
        "3.1.2.6",
        "\"An element receiving this request should return a 400 Bad Request error.\"",
        one(BAD),
    ),
    both(
        "ltgtruri.dat",
        "3.1.2.7",
        "\"It is reasonable always to reject a request with this error with a 400 Bad \
         Request.\"",
        one(BAD),
    ),
    both(
        "lwsruri.dat",
        "3.1.2.8",
        "\"An element receiving this request should respond with a 400 Bad Request.\"",
        one(BAD),
    ),
    both(
        "lwsstart.dat",
        "3.1.2.9",
        "\"It is acceptable to reject this request as malformed.\" callgate's request line is \
         strict: a softswitch never sends extra spaces",
        one(BAD),
    ),
    both(
        "trws.dat",
        "3.1.2.10",
        "\"It is acceptable to reject this request as malformed.\"",
        one(BAD),
    ),
    both(
        "escruri.dat",
        "3.1.2.11",
        "\"It is acceptable for an element to reject this request with a 400 Bad Request.\" \
         (RFC 3261 §19.1.1: headers are not allowed in a Request-URI)",
        one(BAD),
    ),
    both(
        "baddate.dat",
        "3.1.2.12",
        "\"It is acceptable to reject this request as malformed (though an element shouldn't \
         do that unless the contents of the Date header field were actually important to its \
         processing).\" callgate never reads Date: decided",
        one(DECISION),
    ),
    both(
        "regbadct.dat",
        "3.1.2.13",
        "\"It is reasonable for an element receiving this request to respond with a 400 Bad \
         Request.\"",
        one(BAD),
    ),
    both(
        "badaspec.dat",
        "3.1.2.14",
        "\"It is reasonable to reject this request with a 400 Bad Request response.\"",
        one(BAD),
    ),
    both(
        "baddn.dat",
        "3.1.2.15",
        "\"It is reasonable always to reject this kind of error with a 400 Bad Request \
         response.\"",
        one(BAD),
    ),
    both(
        "badvers.dat",
        "3.1.2.16",
        "\"The element should respond to the request with a 505 Version Not Supported \
         error.\"",
        one(&[Answer::Status(505)]),
    ),
    both(
        "mismatch01.dat",
        "3.1.2.17",
        "\"Any element receiving this request will respond with a 400 Bad Request.\"",
        one(BAD),
    ),
    both(
        "mismatch02.dat",
        "3.1.2.18",
        "\"Any element receiving this response should respond with a 501 Not Implemented.  A \
         400 Bad Request is also acceptable, but choosing a 501 (particularly at proxies) has \
         better future-proof characteristics.\"",
        one(NOT_IMPLEMENTED),
    ),
    both(
        "bigcode.dat",
        "3.1.2.19",
        "\"An element receiving this response should simply drop it.\"",
        NONE,
    ),
    // --- §3.2 Transaction Layer Semantics --------------------------------------------------
    both(
        "badbranch.dat",
        "3.2.1",
        "\"An element receiving this request could reject the request with a 400 Response … or \
         it could fall back to the RFC 2543-style transaction identifier.\" callgate falls \
         back (its retransmission key is Call-ID, CSeq and the whole top Via): 200",
        one(OK),
    ),
    // --- §3.3 Application-Layer Semantics --------------------------------------------------
    both(
        "insuf.dat",
        "3.3.1",
        "\"An element receiving this message must not break because of the missing \
         information.  Ideally, it will respond with a 400 Bad Request error.\" The 400 keeps \
         the Via and CSeq a client matches it by (RFC 3261 §17.1.3) and fills in the To, From \
         and Call-ID every response carries (§8.1.1)",
        one(BAD),
    ),
    both(
        "unkscm.dat",
        "3.3.2",
        "\"An element receiving this request will reject it with a 416 Unsupported URI Scheme \
         response.\"",
        one(&[Answer::Status(416)]),
    ),
    both(
        "novelsc.dat",
        "3.3.3",
        "\"If an element will never accept this scheme as meaningful in a Request-URI, it is \
         appropriate to treat it as unknown and return a 416\" (callgate serves sip, sips, tel \
         and urn only)",
        one(&[Answer::Status(416)]),
    ),
    both(
        "unksm2.dat",
        "3.3.4",
        "A registrar would answer 400 for the non-SIP To; callgate is no registrar, and \
         \"Endpoints choosing not to act as registrars will simply reject the request. A 405 \
         Method Not Allowed is appropriate.\" (§3.3.7)",
        one(NOT_ALLOWED),
    ),
    both(
        "bext01.dat",
        "3.3.5",
        "\"Any element receiving this request will respond with a 420 Bad Extension response, \
         containing an Unsupported header field listing these features from either the Require \
         or Proxy-Require header field, depending on the role in which the element is \
         responding.\" callgate answers as a UAS: the Require tags",
        one(&[Answer::BadExtension(
            "nothingSupportsThis, nothingSupportsThisEither",
        )]),
    ),
    both(
        "invut.dat",
        "3.3.6",
        "\"An endpoint receiving this request would reject it with a 415 Unsupported Media \
         Type error\"; callgate is no endpoint: it redirects and never reads a body, so the \
         body's type changes nothing, as at a proxy. Decided",
        one(DECISION),
    ),
    both(
        "regaut01.dat",
        "3.3.7",
        "\"Endpoints choosing not to act as registrars will simply reject the request. A 405 \
         Method Not Allowed is appropriate.\"",
        one(NOT_ALLOWED),
    ),
    both(
        "multi01.dat",
        "3.3.8",
        "\"An element receiving this request would respond with a 400 Bad Request error.\"",
        one(BAD),
    ),
    Case {
        file: "mcl01.dat",
        section: "3.3.9",
        rfc: "\"An element receiving this message should respond with an error.  This request \
              appeared over UDP, so the remainder of the datagram can simply be discarded.  If \
              a request like this arrives over TCP, the framing error is not recoverable, and \
              the connection should be closed.\"",
        udp: one(BAD),
        tcp: Outcome {
            answers: BAD,
            closes: true,
        },
    },
    both(
        "bcast.dat",
        "3.3.10",
        "\"an endpoint receiving this message should simply discard it.\"",
        NONE,
    ),
    both(
        "zeromf.dat",
        "3.3.11",
        "\"An endpoint should process the request as if the Max-Forwards field value were \
         still positive.\"",
        one(OK),
    ),
    both(
        "cparam01.dat",
        "3.3.12",
        "For a registrar. callgate is none: \"A 405 Method Not Allowed is appropriate.\" \
         (§3.3.7)",
        one(NOT_ALLOWED),
    ),
    both(
        "cparam02.dat",
        "3.3.13",
        "For a registrar. callgate is none: \"A 405 Method Not Allowed is appropriate.\" \
         (§3.3.7)",
        one(NOT_ALLOWED),
    ),
    both(
        "regescrt.dat",
        "3.3.14",
        "For a registrar. callgate is none: \"A 405 Method Not Allowed is appropriate.\" \
         (§3.3.7)",
        one(NOT_ALLOWED),
    ),
    both(
        "sdp01.dat",
        "3.3.15",
        "\"since the Accept header field does not contain application/sdp, the response may \
         not contain an SDP body. The recipient of this request could respond with a 406 Not \
         Acceptable\". callgate's 302 and 403 carry no body at all, so they honour the Accept: \
         decided",
        one(DECISION),
    ),
    // --- §3.4 Backward Compatibility -------------------------------------------------------
    Case {
        file: "inv2543.dat",
        section: "3.4.1",
        rfc: "\"should be accepted by RFC 3261 elements that want to maintain backwards \
              compatibility\" (no branch, no From tag, no Content-Length, no Max-Forwards). On \
              TCP the missing Content-Length reads as 0 (RFC 3261 §18.3 makes it mandatory \
              there): the INVITE is decided, and the SDP after it starts a message that never \
              ends, so the connection is closed at the message deadline",
        udp: one(DECISION),
        tcp: Outcome {
            answers: DECISION,
            closes: true,
        },
    },
];

fn message(file: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/rfc4475")
        .join(file);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The header fields of a message's header section, unfolded (RFC 3261 §7.3.1), read
/// independently of the daemon's parser.
fn fields(message: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(message);
    let head = text.split("\r\n\r\n").next().unwrap_or("");
    let mut out: Vec<(String, String)> = Vec::new();
    for line in head.split("\r\n").skip(1) {
        if line.starts_with([' ', '\t']) {
            if let Some((_, v)) = out.last_mut() {
                v.push(' ');
                v.push_str(line.trim());
            }
        } else if let Some((n, v)) = line.split_once(':') {
            out.push((n.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    out
}

fn first_value(fields: &[(String, String)], long: &str, short: &str) -> Option<String> {
    fields
        .iter()
        .find(|(n, _)| n == long || n == short)
        .map(|(_, v)| v.clone())
}

/// Checks one answer against what was expected; the failure, if any.
fn check(request: &[u8], answer: &str, expected: Answer) -> Result<(), String> {
    let (head, body) = answer
        .split_once("\r\n\r\n")
        .ok_or("no blank line ends the answer")?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let rest = status_line
        .strip_prefix("SIP/2.0 ")
        .ok_or(format!("status line `{status_line}`"))?;
    let (code, phrase) = rest
        .split_once(' ')
        .ok_or(format!("status line `{status_line}`"))?;
    let code: u16 = code
        .parse()
        .map_err(|_| format!("status line `{status_line}`"))?;
    if phrase.is_empty() {
        return Err("an empty reason phrase".into());
    }
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in lines {
        let (n, v) = line
            .split_once(": ")
            .ok_or(format!("header line `{line}`"))?;
        if v.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f) {
            return Err(format!("a control character in `{n}`: {v:?}"));
        }
        headers.push((n.to_ascii_lowercase(), v.to_string()));
    }
    let all = |name: &str| -> Vec<&str> {
        headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    };
    if all("via").is_empty() {
        return Err("no Via".into());
    }
    for name in ["from", "to", "call-id", "cseq", "content-length"] {
        if all(name).len() != 1 {
            return Err(format!("`{name}` appears {} times", all(name).len()));
        }
    }
    if all("content-length") != ["0"] || !body.is_empty() {
        return Err("a body, or a Content-Length other than 0".into());
    }
    // A tag parameter, LWS around its `=` allowed (RFC 3261 §25.1 EQUAL).
    let to = all("to")[0];
    let params = to.rfind('>').map_or(to, |i| &to[i..]);
    if !params.split(';').skip(1).any(|p| {
        p.split('=')
            .next()
            .unwrap()
            .trim()
            .eq_ignore_ascii_case("tag")
    }) {
        return Err("a To without a tag".into());
    }
    // RFC 3261 §8.2.6.2: "The Call-ID header field of the response MUST equal the Call-ID
    // header field of the request. The CSeq header field … MUST equal the CSeq field of the
    // request."
    let sent = fields(request);
    if let Some(call_id) = first_value(&sent, "call-id", "i")
        && all("call-id")[0] != call_id
    {
        return Err(format!(
            "Call-ID `{}` is not `{call_id}`",
            all("call-id")[0]
        ));
    }
    let cseq = first_value(&sent, "cseq", "").ok_or("the request has no CSeq")?;
    let words = |s: &str| s.split_whitespace().map(str::to_string).collect::<Vec<_>>();
    if words(all("cseq")[0]) != words(&cseq) {
        return Err(format!("CSeq `{}` is not `{cseq}`", all("cseq")[0]));
    }
    match expected {
        Answer::Decision => {
            if !matches!(code, 302 | 403) || all("x-callgate-decision").len() != 1 {
                return Err(format!("not a decision: {status_line}"));
            }
        }
        Answer::Status(want) => {
            if code != want {
                return Err(format!("{status_line}, not {want}"));
            }
        }
        Answer::Refused(want) => {
            if code != want {
                return Err(format!("{status_line}, not {want}"));
            }
            // RFC 3261 §8.2.1: "The UAS MUST also add an Allow header field to the 405".
            let allow = all("allow");
            if allow.len() != 1 || !allow[0].split(", ").any(|m| m == "INVITE") {
                return Err(format!("Allow `{allow:?}`"));
            }
        }
        Answer::BadExtension(tags) => {
            if code != 420 || all("unsupported") != [tags] {
                return Err(format!(
                    "{status_line} with Unsupported {:?}, not 420 with `{tags}`",
                    all("unsupported")
                ));
            }
        }
    }
    Ok(())
}

/// Sends `bytes` in one datagram from a fresh loopback socket; the answer, if one comes
/// within 500 ms (as `tests/sip.rs` waits for one).
async fn over_udp(to: SocketAddr, bytes: &[u8]) -> Option<String> {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    socket.send_to(bytes, to).await.unwrap();
    let mut buf = vec![0u8; 65536];
    match tokio::time::timeout(Duration::from_millis(500), socket.recv_from(&mut buf)).await {
        Ok(Ok((n, _))) => Some(String::from_utf8_lossy(&buf[..n]).into_owned()),
        _ => None,
    }
}

/// A probe that any peer's OPTIONS gets 200 for: sent after a message on the same
/// connection, its answer coming first proves the message got none (TCP keeps the order).
const PROBE: &str = "OPTIONS sip:callgate@127.0.0.1 SIP/2.0\r\n\
                     Via: SIP/2.0/TCP 127.0.0.1:5999;branch=z9hG4bK-probe\r\n\
                     From: <sip:probe@acme>;tag=p\r\nTo: <sip:callgate@127.0.0.1>\r\n\
                     Call-ID: rfc4475-probe\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";

/// Sends `bytes` on a fresh connection and reads the answers; when no close is expected,
/// the probe follows and the answers are those before the probe's. `closed`: whether the
/// daemon closed the connection (waited for up to 5 s).
async fn over_tcp(to: SocketAddr, bytes: &[u8], expect_close: bool) -> (Vec<String>, bool) {
    let mut stream = TcpStream::connect(to).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    if !expect_close {
        stream.write_all(PROBE.as_bytes()).await.unwrap();
    }
    let mut got: Vec<u8> = Vec::new();
    let mut answers = Vec::new();
    let mut buf = [0u8; 16384];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let closed = loop {
        while let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            let answer: Vec<u8> = got.drain(..end + 4).collect();
            let answer = String::from_utf8_lossy(&answer).into_owned();
            if answer.contains("Call-ID: rfc4475-probe\r\n") {
                return (answers, false);
            }
            answers.push(answer);
        }
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => break false,
            Ok(Ok(0) | Err(_)) => break true,
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    };
    (answers, closed)
}

/// Checks what one transport got against the case; the failure, if any.
fn verdict(
    case: &Case,
    bytes: &[u8],
    want: Outcome,
    answers: &[String],
    closed: bool,
) -> Result<(), String> {
    if answers.len() != want.answers.len() {
        return Err(format!(
            "{} answer(s), {} expected: {answers:?}",
            answers.len(),
            want.answers.len()
        ));
    }
    for (i, (answer, expected)) in answers.iter().zip(want.answers).enumerate() {
        // dblreq's second answer is to the INVITE after the REGISTER.
        let request = if i == 0 {
            bytes.to_vec()
        } else {
            let text = String::from_utf8_lossy(bytes).into_owned();
            let at = text.find("INVITE ").unwrap_or(0);
            text.as_bytes()[at..].to_vec()
        };
        check(&request, answer, *expected).map_err(|e| format!("answer {i}: {e}: {answer}"))?;
    }
    if want.closes && !closed {
        return Err("the connection was left open".into());
    }
    let _ = case;
    Ok(())
}

async fn run(transport: &str) {
    // A short message deadline, so that clerr's never-ending body closes its connection soon.
    let d = daemon::start_with(&["127.0.0.1"], |c| c.sip_message_deadline_ms = 300).await;
    let mut failures = Vec::new();
    for case in CASES {
        let bytes = message(case.file);
        let (want, result) = if transport == "udp" {
            let answers: Vec<String> = over_udp(d.sip, &bytes).await.into_iter().collect();
            (case.udp, verdict(case, &bytes, case.udp, &answers, false))
        } else {
            let (answers, closed) = over_tcp(d.sip, &bytes, case.tcp.closes).await;
            (case.tcp, verdict(case, &bytes, case.tcp, &answers, closed))
        };
        if let Err(e) = result {
            failures.push(format!(
                "§{} {} ({}): expected {:?}: {e}\n    RFC 4475: {}",
                case.section, case.file, transport, want, case.rfc
            ));
        }
    }
    println!(
        "RFC 4475 over {transport}: {} of {} messages answered as the RFC asks",
        CASES.len() - failures.len(),
        CASES.len()
    );
    d.shutdown().await;
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_corpus_is_the_49_messages_of_the_rfc() {
    // RFC 4475 §3: 13 valid and 19 invalid messages (§3.1), 1 transaction-layer (§3.2), 15
    // application-layer (§3.3), 1 backward-compatibility (§3.4).
    assert_eq!(CASES.len(), 49);
    let mut files: Vec<&str> = CASES.iter().map(|c| c.file).collect();
    files.sort_unstable();
    files.dedup();
    assert_eq!(files.len(), 49);
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/rfc4475");
    let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".dat"))
        .collect();
    on_disk.sort_unstable();
    assert_eq!(on_disk, files);
    // Byte-exact: CRLF line ends survived the checkout, and intmeth's raw NUL/BEL/DEL.
    assert!(message("wsinv.dat").windows(2).any(|w| w == b"\r\n"));
    let intmeth = message("intmeth.dat");
    assert!([0x00u8, 0x07, 0x7f].iter().all(|b| intmeth.contains(b)));
}

#[tokio::test]
async fn every_message_over_udp_gets_the_answer_the_rfc_asks_for() {
    run("udp").await;
}

#[tokio::test]
async fn every_message_over_tcp_gets_the_answer_the_rfc_asks_for() {
    run("tcp").await;
}

/// An INVITE from acme's extension 201 to `request_uri`, with `extra` header lines.
fn acme_invite(call_id: &str, request_uri: &str, extra: &str) -> String {
    format!(
        "INVITE {request_uri} SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-{call_id}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:201@acme>;tag=f1\r\n\
         To: <{request_uri}>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 1 INVITE\r\n\
         {extra}\
         Content-Length: 0\r\n\r\n"
    )
}

#[tokio::test]
async fn a_require_refuses_an_invite_but_never_an_emergency_call() {
    let d = daemon::start(&["127.0.0.1"]).await;
    // RFC 3261 §8.2.2.3: "If a UAS does not understand an option-tag listed in a Require
    // header field, it MUST respond by generating a response with status code 420 (Bad
    // Extension). The UAS MUST add an Unsupported header field".
    let msg = acme_invite("req-1", "sip:5551234@acme", "Require: 100rel, timer\r\n");
    let r = over_udp(d.sip, msg.as_bytes()).await.expect("an answer");
    check(msg.as_bytes(), &r, Answer::BadExtension("100rel, timer")).unwrap();
    // DESIGN.md: an emergency target is "never denied, whatever the user's, tenant's or
    // replica's state" — nor for an option tag it asks for: decided, 302.
    let msg = acme_invite("req-2", "sip:911@acme", "Require: 100rel\r\n");
    let r = over_udp(d.sip, msg.as_bytes()).await.expect("an answer");
    check(msg.as_bytes(), &r, Answer::Decision).unwrap();
    assert!(r.starts_with("SIP/2.0 302 "), "{r}");
    // And a Require that is not a list of tokens is malformed: 400.
    let msg = acme_invite("req-3", "sip:5551234@acme", "Require: a b\r\n");
    let r = over_udp(d.sip, msg.as_bytes()).await.expect("an answer");
    check(msg.as_bytes(), &r, Answer::Status(400)).unwrap();
    d.shutdown().await;
}
