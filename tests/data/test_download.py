"""Real download code, exercised against a file server on 127.0.0.1 and file:// URLs."""
import functools
import hashlib
import http.server
import threading
import zipfile

import pytest

from hetrec.data import ChecksumError, DataError, LastFM2K, download, extract_members


@pytest.fixture
def server(tmp_path):
    """Serve ``tmp_path/www`` on 127.0.0.1 (an ephemeral port); yields (folder, base_url)."""
    www = tmp_path / "www"
    www.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(www))
    handler.log_message = lambda *a, **k: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield www, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_download_verifies_digest(server, tmp_path):
    www, url = server
    payload = b"hello hetrec\n" * 1000
    (www / "f.bin").write_bytes(payload)
    out = download(f"{url}/f.bin", tmp_path / "dl" / "f.bin", algorithm="sha256",
                   expected=hashlib.sha256(payload).hexdigest(), progress=True)
    assert out.read_bytes() == payload
    assert not (tmp_path / "dl" / "f.bin.part").exists()


def test_download_with_wrong_digest_leaves_nothing(server, tmp_path):
    www, url = server
    (www / "f.bin").write_bytes(b"corrupted")
    target = tmp_path / "dl" / "f.bin"
    with pytest.raises(ChecksumError, match="checksum mismatch"):
        download(f"{url}/f.bin", target, algorithm="sha256", expected="0" * 64)
    assert list((tmp_path / "dl").iterdir()) == []


def test_failed_download_leaves_no_partial_file(server, tmp_path):
    _, url = server
    target = tmp_path / "dl" / "missing.zip"
    with pytest.raises(DataError, match="could not download"):
        download(f"{url}/missing.zip", target)
    assert list((tmp_path / "dl").iterdir()) == []


def test_file_url(tmp_path):
    src = tmp_path / "src.txt"
    src.write_bytes(b"abc")
    out = download(src.as_uri(), tmp_path / "out.txt", algorithm="md5", expected=hashlib.md5(b"abc").hexdigest())
    assert out.read_bytes() == b"abc"


def _zip(path, members: dict):
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)


def test_path_traversal_member_is_refused(tmp_path):
    archive = tmp_path / "evil.zip"
    _zip(archive, {"ok/a.dat": b"1", "../../escape.dat": b"x"})
    with pytest.raises(DataError, match="outside the target folder"):
        extract_members(archive, tmp_path / "out", ["ok/a.dat"])
    assert not (tmp_path / "out").exists()
    assert not (tmp_path.parent / "escape.dat").exists()
    _zip(archive, {"/abs/a.dat": b"1"})
    with pytest.raises(DataError, match="outside the target folder"):
        extract_members(archive, tmp_path / "out", ["/abs/a.dat"])


@pytest.mark.realdata
def test_dataset_download_good_archive(lastfm_dir, server, tmp_path):
    www, url = server
    files = {f"hetrec2011-lastfm-2k/{p.name}": p.read_bytes() for p in lastfm_dir.iterdir()}
    _zip(www / "hetrec2011-lastfm-2k.zip", files)
    root = tmp_path / "root"
    ds = LastFM2K(root=root, url=f"{url}/hetrec2011-lastfm-2k.zip", cache=False)
    assert ds.verified and ds.graph.num_edges("interacts") == 92834
    assert (root / "hetrec2011-lastfm-2k" / "user_artists.dat").is_file()


@pytest.mark.realdata
def test_dataset_download_corrupted_archive_is_removed(lastfm_dir, server, tmp_path):
    www, url = server
    files = {f"hetrec2011-lastfm-2k/{p.name}": p.read_bytes() for p in lastfm_dir.iterdir()}
    files["hetrec2011-lastfm-2k/user_artists.dat"] += b"2\t51\t1\r\n"  # one forged row
    _zip(www / "hetrec2011-lastfm-2k.zip", files)
    root = tmp_path / "root"
    with pytest.raises(ChecksumError, match="user_artists.dat"):
        LastFM2K(root=root, url=f"{url}/hetrec2011-lastfm-2k.zip", cache=False)
    assert not (root / "hetrec2011-lastfm-2k").exists()
    assert not (root / "hetrec2011-lastfm-2k.zip").exists()


def test_dataset_download_unreachable_explains_local_copy(tmp_path):
    with pytest.raises(DataError, match="No local copy either"):
        LastFM2K(root=tmp_path, url=(tmp_path / "nowhere.zip").as_uri(), cache=False)
