from __future__ import annotations

import hashlib
import shutil
import sqlite3
from pathlib import Path

from sipssert_corpus import CORPUS

from pysips.sipssert.addresses import plan
from pysips.sipssert.dbmap import is_sqlite, map_database, map_volume
from pysips.sipssert.paths import PathMap


def test_paths_longest_mount_wins(tmp_path: Path) -> None:
    pm = PathMap(
        [("/home", tmp_path / "test"), ("/home/scripts", tmp_path / "s"), ("/var/lib/db", tmp_path / "v")]
    )
    assert pm.host("/home/opensips.db") == tmp_path / "test" / "opensips.db"
    assert pm.host("/home/scripts/x.sh") == tmp_path / "s" / "x.sh"
    assert pm.host("/var/lib/db") == tmp_path / "v"
    assert pm.host("/homework/x") is None
    assert pm.host("/etc/passwd") is None
    assert pm.resolve("scripts/uac.xml", "/home") == tmp_path / "s" / "uac.xml"


def test_paths_in_script_text(tmp_path: Path) -> None:
    pm = PathMap([("/var/lib/opensips/db_sqlite", tmp_path / "vol")])
    text = (
        'modparam("usrloc", "db_url", "sqlite:///var/lib/opensips/db_sqlite/opensips.db")'
        " /x/var/lib/opensips/db_sqlite"
    )
    assert pm.text(text) == (
        f'modparam("usrloc", "db_url", "sqlite://{tmp_path}/vol/opensips.db") /x/var/lib/opensips/db_sqlite'
    )


def test_digest_hashes_follow_the_realm(tmp_path: Path) -> None:
    db = tmp_path / "opensips.db"
    shutil.copy(CORPUS / "auth" / "05.ha1-db-www" / "opensips.db", db)
    assert is_sqlite(db)
    amap = plan([("192.168.52.1", 0)], "127.5.5")
    assert map_database(db, amap, ["testing", "T3st|n6"]) == 1
    (ha1,) = sqlite3.connect(db).execute("SELECT ha1 FROM subscriber WHERE username='testing'").fetchone()
    assert ha1 == hashlib.md5(b"testing:127.5.5.1:T3st|n6").hexdigest()


def test_domain_columns_are_mapped_once(tmp_path: Path) -> None:
    volume = tmp_path / "vol"
    volume.mkdir()
    shutil.copy(CORPUS / "auth" / "04.password-db-proxy-domain" / "opensips.db", volume / "opensips.db")
    (volume / "notes.txt").write_text("192.168.52.1")
    amap = plan([("192.168.52.1", 0)], "127.5.5")
    done: set[Path] = set()
    map_volume(volume, amap, [], done)
    map_volume(volume, amap, [], done)
    rows = (
        sqlite3.connect(volume / "opensips.db").execute("SELECT domain, password FROM subscriber").fetchall()
    )
    assert rows == [("127.5.5.1", "T3st|n6")]
    assert (volume / "notes.txt").read_text() == "192.168.52.1"  # only databases are touched
