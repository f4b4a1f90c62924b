#!/usr/bin/env python3
"""Writes the seed corpora of tests/fuzz (corpus/session, corpus/http) from the messages
the test suite sends (tests/e2e, tests/http) and the crash reproducers of issue 12.
Re-run after adding a message here; files the fuzzers found (crash-*, kept reproducers)
are not touched. Seed names say what they are; see README.md for the session input format
(first byte odd = initialized session, even = fresh)."""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def msg(id_, method, params=None):
    m = {"jsonrpc": "2.0", "id": id_, "method": method}
    if params is not None:
        m["params"] = params
    return json.dumps(m, separators=(",", ":"))


def note(method, params=None):
    m = {"jsonrpc": "2.0", "method": method}
    if params is not None:
        m["params"] = params
    return json.dumps(m, separators=(",", ":"))


INIT_PARAMS = {"protocolVersion": "2025-06-18",
               "capabilities": {"sampling": {}, "elicitation": {}, "roots": {"listChanged": True}},
               "clientInfo": {"name": "seed", "version": "1"}}

# Messages of an initialized session (the file starts with '{': odd, so the harness
# initializes first).
INITIALIZED = {
    "ping": [msg(1, "ping")],
    "tools-list": [msg(2, "tools/list")],
    "tools-list-cursor": [msg(3, "tools/list", {"cursor": "MTAw"})],
    "echo-echo": [msg(4, "tools/call", {"name": "echo_echo", "arguments": {"text": "hello"}})],
    "echo-add": [msg(5, "tools/call", {"name": "echo_add", "arguments": {"a": 2, "b": 3}})],
    "echo-add-overflow": [msg(6, "tools/call", {"name": "echo_add", "arguments": {"a": 1e308, "b": 1e308}})],
    "echo-slow-progress": [msg(7, "tools/call", {"name": "echo_slow", "arguments": {"steps": 3, "delay_ms": 1},
                                                  "_meta": {"progressToken": "p1"}})],
    "echo-slow-cancelled": [msg(8, "tools/call", {"name": "echo_slow", "arguments": {"steps": 100, "delay_ms": 50}}),
                            note("notifications/cancelled", {"requestId": 8, "reason": "seed"})],
    "echo-unknown-tool": [msg(9, "tools/call", {"name": "echo_nope", "arguments": {}})],
    "echo-bad-arguments": [msg(10, "tools/call", {"name": "echo_echo", "arguments": {"text": 5}})],
    "echo-secret-argument": [msg(11, "tools/call", {"name": "echo_echo", "arguments": {"text": "fuzz-secret-Zq7xW3"}})],
    "echo-credential-argument": [msg(12, "tools/call", {"name": "echo_echo",
                                                         "arguments": {"text": "AKIAIOSFODNN7EXAMPLE"}})],
    "prompts-list": [msg(13, "prompts/list")],
    "prompts-get": [msg(14, "prompts/get", {"name": "echo_greet", "arguments": {"name": "Ada"}})],
    "prompts-get-conformance": [msg(15, "prompts/get", {"name": "test_prompt_with_arguments",
                                                         "arguments": {"arg1": "a", "arg2": "b"}})],
    "resources-list": [msg(16, "resources/list")],
    "resources-templates-list": [msg(17, "resources/templates/list")],
    "resources-read": [msg(18, "resources/read", {"uri": "echo://echo/greeting"})],
    "resources-read-template": [msg(19, "resources/read", {"uri": "test://template/42/data"})],
    "resources-read-binary": [msg(20, "resources/read", {"uri": "test://static-binary"})],
    "resources-subscribe": [msg(21, "resources/subscribe", {"uri": "test://watched-resource"}),
                            msg(22, "resources/unsubscribe", {"uri": "test://watched-resource"})],
    "completion-prompt": [msg(23, "completion/complete", {"ref": {"type": "ref/prompt", "name": "echo_greet"},
                                                          "argument": {"name": "name", "value": "A"}})],
    "completion-resource": [msg(24, "completion/complete", {"ref": {"type": "ref/resource",
                                                                    "uri": "test://template/{id}/data"},
                                                            "argument": {"name": "id", "value": "1"}})],
    "logging-setlevel": [msg(25, "logging/setLevel", {"level": "debug"}),
                         msg(26, "tools/call", {"name": "test_tool_with_logging", "arguments": {}})],
    "conformance-tools": [msg(27 + i, "tools/call", {"name": n, "arguments": {}}) for i, n in enumerate(
        ["test_simple_text", "test_image_content", "test_audio_content", "test_embedded_resource",
         "test_multiple_content_types", "test_error_handling", "test_tool_with_progress"])],
    "sampling-answered": [msg(40, "tools/call", {"name": "test_sampling", "arguments": {"prompt": "hi"}}),
                          json.dumps({"jsonrpc": "2.0", "id": 1, "result": {
                              "role": "assistant", "content": {"type": "text", "text": "hello"},
                              "model": "seed"}}, separators=(",", ":"))],
    "elicitation-answered": [msg(41, "tools/call", {"name": "test_elicitation", "arguments": {"message": "who?"}}),
                             json.dumps({"jsonrpc": "2.0", "id": 1, "result": {
                                 "action": "accept", "content": {"username": "u", "email": "e@x"}}},
                                 separators=(",", ":"))],
    "client-error-response": [json.dumps({"jsonrpc": "2.0", "id": 99, "error": {"code": -1, "message": "x"}})],
    "unknown-method": [msg(42, "no/such/method", {})],
    "unknown-notification": [note("notifications/whatever", {})],
    "roots-list-changed": [note("notifications/roots/list_changed")],
    "malformed-wrong-version": ['{"jsonrpc":"1.0","id":10,"method":"ping"}'],
    "malformed-no-method": ['{"jsonrpc":"2.0","id":7}'],
    "malformed-method-type": ['{"jsonrpc":"2.0","id":8,"method":7}'],
    "malformed-params-array": ['{"jsonrpc":"2.0","id":9,"method":"tools/list","params":[]}'],
    "malformed-id-object": ['{"jsonrpc":"2.0","id":{"a":1},"method":"ping"}'],
    "malformed-truncated": ['{"jsonrpc":"2.0","id":1,"method":"pi'],
    "nesting-64": ['{"jsonrpc":"2.0","id":"deep64","method":"ping","params":{"a":' + "[" * 62 + "]" * 62 + "}}"],
    "nesting-100": ['{"jsonrpc":"2.0","id":"deep","method":"ping","params":{"a":' + "[" * 100 + "]" * 100 + "}}"],
    "batch": ['[{"jsonrpc":"2.0","id":"b1","method":"ping"},{"jsonrpc":"2.0","id":"b2","method":"ping"}]'],
    "duplicate-ids": [msg(50, "tools/call", {"name": "echo_slow", "arguments": {"steps": 2, "delay_ms": 5}}),
                      msg(50, "tools/call", {"name": "echo_slow", "arguments": {"steps": 2, "delay_ms": 5}})],
    "crlf": [msg(51, "ping") + "\r"],
    # Issue 12 reproducers that need an initialized session.
    "repro-issue12-id-1e400": ['{"jsonrpc":"2.0","id":1e400,"method":"ping"}'],
    "repro-issue12-id-400-digits": ['{"jsonrpc":"2.0","id":' + "9" * 400 + ',"method":"ping"}'],
    "repro-issue12-argument-1e400": ['{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo_add","arguments":{"a":1e400,"b":1}}}'],
    "repro-issue12-completion-ref-string": ['{"jsonrpc":"2.0","id":1,"method":"completion/complete","params":{"ref":"x"}}'],
    "repro-issue12-completion-ref-array": ['{"jsonrpc":"2.0","id":1,"method":"completion/complete","params":{"ref":[]}}'],
    "repro-issue12-completion-ref-type-number": ['{"jsonrpc":"2.0","id":1,"method":"completion/complete","params":{"ref":{"type":5}}}'],
    "repro-issue12-completion-ref-name-number": ['{"jsonrpc":"2.0","id":1,"method":"completion/complete","params":{"ref":{"type":"ref/prompt","name":7}}}'],
    "repro-issue12-completion-ref-uri-null": ['{"jsonrpc":"2.0","id":1,"method":"completion/complete","params":{"ref":{"type":"ref/resource","uri":null}}}'],
}

# A fresh session (the file starts with ' ' or '\n': even, so nothing is sent first).
FRESH = {
    "fresh-initialize": [msg(1, "initialize", INIT_PARAMS), note("notifications/initialized"),
                         msg(2, "tools/list")],
    "fresh-initialize-old-version": [msg(1, "initialize", dict(INIT_PARAMS, protocolVersion="2024-11-05"))],
    "fresh-initialize-unknown-version": [msg(1, "initialize", dict(INIT_PARAMS, protocolVersion="1999-01-01"))],
    "fresh-ping-before-initialize": [msg(1, "ping")],
    "fresh-call-before-initialize": [msg(1, "tools/call", {"name": "echo_echo", "arguments": {"text": "x"}})],
    "fresh-not-json": ["this is not json"],
    "fresh-not-object": ["42"],
    "repro-issue12-fresh-id-1e400": ['{"jsonrpc":"2.0","id":1e400,"method":"ping"}'],
    "repro-issue12-initialize-version-number": ['{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":5}}'],
    "repro-issue12-initialize-version-null": ['{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":null}}'],
}


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def session_corpus(out):
    for name, lines in INITIALIZED.items():
        text = "\n".join(lines) + "\n"
        assert text[0] in "{[", name
        write(os.path.join(out, name), text.encode())
    for name, lines in FRESH.items():
        write(os.path.join(out, name), (" " + "\n".join(lines) + "\n").encode())
    # Bytes that are not text: invalid UTF-8 inside a string, and a leading BOM.
    write(os.path.join(out, "invalid-utf8"),
          b'{"jsonrpc":"2.0","id":"utf8","method":"ping","params":{"x":"\xff\xfe\xc3"}}\n')
    write(os.path.join(out, "fresh-bom"), b"\n\xef\xbb\xbf" + msg(1, "ping").encode() + b"\n")


def http_request(method, body=None, headers=(), target="/mcp", version="1.1", literal_length=False):
    """One raw request. The body's Content-Length is "@LEN@" (the harness fills it in, so
    mutated bodies keep a matching length) unless literal_length or headers set one."""
    lines = [f"{method} {target} HTTP/{version}", "Host: 127.0.0.1"]
    lines += list(headers)
    data = b""
    if body is not None:
        data = body.encode() if isinstance(body, str) else body
        if not any(h.lower().startswith(("content-length", "transfer-encoding")) for h in headers):
            lines.append(f"Content-Length: {len(data)}" if literal_length else "Content-Length: @LEN@")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + data


JSON_HEADERS = ("Content-Type: application/json", "Accept: application/json, text/event-stream")
SESSION = ("Mcp-Session-Id: @SID@", "MCP-Protocol-Version: 2025-06-18")


def http_corpus(out):
    init = msg(1, "initialize", INIT_PARAMS)
    seeds = {
        "post-initialize": http_request("POST", init, JSON_HEADERS),
        "post-initialize-json-only": http_request("POST", init, ("Content-Type: application/json",
                                                                 "Accept: application/json")),
        "post-initialized-notification": http_request("POST", note("notifications/initialized"),
                                                      JSON_HEADERS + SESSION),
        "post-tools-list": http_request("POST", msg(2, "tools/list"), JSON_HEADERS + SESSION),
        "post-tools-call-sse": http_request("POST", msg(3, "tools/call", {
            "name": "echo_slow", "arguments": {"steps": 2, "delay_ms": 1}, "_meta": {"progressToken": 1}}),
            JSON_HEADERS + SESSION),
        "post-tools-call-json": http_request("POST", msg(4, "tools/call", {
            "name": "echo_echo", "arguments": {"text": "hi"}}),
            ("Content-Type: application/json", "Accept: application/json") + SESSION),
        "post-client-response": http_request("POST", json.dumps({"jsonrpc": "2.0", "id": 1, "result": {}}),
                                             JSON_HEADERS + SESSION),
        "get-sse": http_request("GET", None, ("Accept: text/event-stream",) + SESSION),
        "get-sse-resume": http_request("GET", None, ("Accept: text/event-stream", "Last-Event-ID: 1") + SESSION),
        "get-no-session": http_request("GET", None, ("Accept: text/event-stream",)),
        "delete-session": http_request("DELETE", None, SESSION),
        "delete-unknown-session": http_request("DELETE", None, ("Mcp-Session-Id: 0123abcd",)),
        "http10-initialize": http_request("POST", init, JSON_HEADERS, version="1.0"),
        "http10-get": http_request("GET", None, ("Accept: text/event-stream",) + SESSION, version="1.0"),
        "chunked-initialize": http_request(
            "POST", f"{len(init):x}\r\n{init}\r\n0\r\n\r\n",
            JSON_HEADERS + ("Transfer-Encoding: chunked",)),
        "pipelined": http_request("POST", msg(5, "ping"), JSON_HEADERS + SESSION, literal_length=True) +
                     http_request("POST", msg(6, "tools/list"), JSON_HEADERS + SESSION, literal_length=True) +
                     http_request("DELETE", None, SESSION),
        "pipelined-initialize-twice": http_request("POST", init, JSON_HEADERS, literal_length=True) * 2,
        "post-initialize-literal-length": http_request("POST", init, JSON_HEADERS, literal_length=True),
        "content-length-short": http_request("POST", init, JSON_HEADERS + ("Content-Length: 10",)),
        "content-length-long": http_request("POST", init, JSON_HEADERS + ("Content-Length: 100000",)),
        "content-length-huge": http_request("POST", init, JSON_HEADERS + ("Content-Length: 99999999999999999999",)),
        "content-length-twice": http_request("POST", init, JSON_HEADERS + ("Content-Length: 5", "Content-Length: 6")),
        "wrong-path": http_request("POST", init, JSON_HEADERS, target="/other"),
        "wrong-method": http_request("PUT", "{}", JSON_HEADERS),
        "wrong-content-type": http_request("POST", init, ("Content-Type: text/plain", "Accept: */*")),
        "bad-origin": http_request("POST", init, JSON_HEADERS + ("Origin: http://evil.example",)),
        "bad-host": b"POST /mcp HTTP/1.1\r\nHost: evil.example\r\nContent-Length: 2\r\n\r\n{}",
        "unsupported-version": http_request("POST", msg(7, "ping"), JSON_HEADERS +
                                            ("Mcp-Session-Id: @SID@", "MCP-Protocol-Version: 1999-01-01")),
        "not-http": b"hello\r\n\r\n",
        "repro-issue12-http-initialize-version-number": http_request(
            "POST", '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":5}}', JSON_HEADERS),
        "repro-issue12-http-id-1e400": http_request(
            "POST", '{"jsonrpc":"2.0","id":1e400,"method":"initialize","params":{}}', JSON_HEADERS),
        "repro-issue12-http-completion-ref-string": http_request(
            "POST", '{"jsonrpc":"2.0","id":1,"method":"completion/complete","params":{"ref":"x"}}',
            JSON_HEADERS + SESSION),
    }
    for name, data in seeds.items():
        write(os.path.join(out, name), data)


def main():
    session_corpus(os.path.join(HERE, "corpus", "session"))
    http_corpus(os.path.join(HERE, "corpus", "http"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
