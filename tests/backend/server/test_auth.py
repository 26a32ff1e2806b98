"""The token: where it lives, who can read it, and that every route but health demands it."""

import os
import stat

import pytest

from momug import cli
from momug.commands.serve import is_loopback
from momug.server import auth

PROTECTED = [("POST", "/v1/generate"), ("POST", "/v1/generate/stream"), ("POST", "/v1/caption"), ("GET", "/v1/jobs/abc"),
             ("GET", "/v1/jobs/abc/result"), ("DELETE", "/v1/jobs/abc"), ("GET", "/v1/models"), ("GET", "/v1/nothing-here")]


@pytest.fixture
def config(tmp_path, monkeypatch):
    monkeypatch.setenv("MOMUG_CONFIG", str(tmp_path / "cfg"))
    return tmp_path / "cfg"


def test_token_is_made_once_and_readable_only_by_the_user(config):
    token = auth.load_or_create_token()
    path = config / "token"
    assert path.is_file() and len(token) >= 32
    if os.name == "posix":
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(config.stat().st_mode) == 0o700
    assert auth.load_or_create_token() == token == auth.read_token()


def test_a_loose_token_file_is_tightened_and_an_empty_one_replaced(config):
    token = auth.load_or_create_token()
    path = config / "token"
    path.chmod(0o644)
    assert auth.load_or_create_token() == token
    if os.name == "posix":
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.write_text("")
    fresh = auth.load_or_create_token()
    assert fresh and fresh != token


def test_config_folder_falls_back_to_xdg_then_home(tmp_path, monkeypatch):
    monkeypatch.delenv("MOMUG_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert auth.token_path() == tmp_path / "xdg" / "momug" / "token"
    monkeypatch.delenv("XDG_CONFIG_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert auth.token_path() == tmp_path / "home" / ".config" / "momug" / "token"


def test_token_matches():
    assert auth.token_matches("abc", "abc")
    assert not auth.token_matches("abd", "abc")
    assert not auth.token_matches("", "abc") and not auth.token_matches(None, "abc")
    assert not auth.token_matches("abc", "")
    assert not auth.token_matches("ä", "abc")


def test_momug_token_prints_the_stored_token(config, capsys):
    assert cli.main(["token"]) == 0
    printed = capsys.readouterr().out.strip()
    assert printed == (config / "token").read_text().strip()
    assert cli.main(["token", "--path"]) == 0
    assert capsys.readouterr().out.strip() == str(config / "token")


@pytest.mark.parametrize("method, path", PROTECTED)
def test_routes_refuse_a_missing_or_wrong_token(server, method, path):
    for token, headers in ((None, {}), ("wrong", {}), (None, {"Authorization": f"Basic {server.token}"}),
                           (None, {"Authorization": server.token})):
        status, reply, sent_headers = server.call(method, path, token=token, headers=headers,
                                                  body={} if method == "POST" else None)
        assert status == 401, (token, headers)
        assert "token" in reply["detail"] and sent_headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("method, path", PROTECTED)
def test_routes_accept_the_token(server, method, path):
    status, _, _ = server.call(method, path, body={} if method == "POST" else None)
    assert status in ((200,) if path == "/v1/models" else (404, 422))


def test_the_token_is_checked_before_the_body_is_read(server):
    status, _, _ = server.call("POST", "/v1/generate", token=None, raw=b"{not json")
    assert status == 401


def test_public_documents(server):
    for path in ("/v1/health", "/openapi.json", "/docs"):
        assert server.call("GET", path, token=None)[0] == 200


def test_an_empty_token_is_refused():
    pytest.importorskip("fastapi")
    from momug.server.app import create_app

    with pytest.raises(ValueError):
        create_app(lambda: None, "")


def test_remote_hosts_need_the_flag(capsys):
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert is_loopback("127.0.0.2") and not is_loopback("0.0.0.0") and not is_loopback("example.org")
    assert cli.main(["serve", "--host", "0.0.0.0", "--checkpoint", "tiny"]) == 2
    assert "--allow-remote" in capsys.readouterr().err
