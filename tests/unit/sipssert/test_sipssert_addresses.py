from __future__ import annotations

from pathlib import Path

from pysips.sipssert.addresses import bound_sockets, choose_block, docker_addresses, ipv4_literals, plan

SUBNETS = ("192.168.52.0/24", "10.52.0.0/24")


def test_literals_need_whole_addresses() -> None:
    text = "udp:192.168.52.1:5060 192.168.52.10 1.2.3.4.5 999.1.1.1 v1.2.3"
    assert ipv4_literals(text) == {"192.168.52.1", "192.168.52.10"}


def test_only_docker_network_hosts_are_mapped() -> None:
    texts = [
        "192.168.52.1 192.168.52.3 10.52.0.1 127.0.0.1 0.0.0.0 8.8.8.8",
        "192.168.52.0/24 10.52.0.255",  # network and broadcast addresses are not hosts
    ]
    found = docker_addresses(texts, SUBNETS)
    assert found == [("192.168.52.1", 0), ("192.168.52.3", 0), ("10.52.0.1", 1)]


def test_plan_keeps_last_byte_and_separates_networks() -> None:
    amap = plan(
        [("192.168.52.1", 0), ("192.168.52.3", 0), ("192.168.52.254", 0), ("10.52.0.1", 1)], "127.99.7"
    )
    assert amap.mapping["192.168.52.1"] == "127.99.7.1"
    assert amap.mapping["192.168.52.3"] == "127.99.7.3"
    assert amap.mapping["10.52.0.1"] == "127.99.7.65"  # the second network's /26
    gateway = amap.mapping["192.168.52.254"]
    assert gateway.startswith("127.99.7.") and len(set(amap.mapping.values())) == 4
    fresh = amap.fresh(set())
    assert fresh not in amap.mapping.values()
    assert amap.fresh({fresh}) != fresh
    assert 64 <= int(amap.fresh(set(), network=1).rsplit(".", 1)[1]) < 128


def test_text_mapping_respects_boundaries() -> None:
    amap = plan([("192.168.52.1", 0), ("192.168.52.10", 0)], "127.9.9")
    text = 'socket=udp:192.168.52.1:5060 x=192.168.52.10 y=192.168.52.100 "sip:u@192.168.52.1;lr"'
    assert amap.text(text) == 'socket=udp:127.9.9.1:5060 x=127.9.9.10 y=192.168.52.100 "sip:u@127.9.9.1;lr"'
    assert amap.value({"k": ["192.168.52.1:5080", 5]}) == {"k": ["127.9.9.1:5080", 5]}


def test_proc_net_parsing(tmp_path: Path) -> None:
    header = "  sl  local_address rem_address   st\n"
    # 127.9.9.1:5060 (UDP), 127.9.9.1:8888 listening (TCP), 127.9.9.1:40000 established (ignored)
    (tmp_path / "udp").write_text(header + "   0: 0109097F:13C4 00000000:0000 07 0\n")
    (tmp_path / "tcp").write_text(
        header + "   0: 0109097F:22B8 00000000:0000 0A 0\n   1: 0109097F:9C40 0100007F:1F90 01 0\n"
    )
    assert bound_sockets(tmp_path) == {("udp", "127.9.9.1", 5060), ("tcp", "127.9.9.1", 8888)}


def test_busy_blocks_are_skipped() -> None:
    first = choose_block(0, pid=0, bound=set())
    assert first == "127.64.1"
    assert choose_block(0, pid=0, bound={("udp", "127.64.1.7", 9)}) == "127.64.2"
    assert choose_block(1, pid=0, bound=set()) == "127.64.2"


def test_real_proc_net_is_readable() -> None:
    assert isinstance(bound_sockets(), set)


def test_a_task_without_an_address_gets_the_lowest_free_host_as_docker_gives() -> None:
    amap = plan([("192.168.52.1", 0), ("192.168.52.3", 0), ("192.168.52.254", 0)], "127.99.7")
    taken = set(amap.mapping.values())
    fresh = amap.fresh(set())
    assert fresh not in taken
    assert int(fresh.rsplit(".", 1)[1]) == min(h for h in range(1, 63) if f"127.99.7.{h}" not in taken)


def test_network_addresses_map_to_the_start_of_their_part() -> None:
    amap = plan([("192.168.52.1", 0), ("10.52.0.1", 1)], "127.99.7")
    amap.add_networks(["192.168.52.0/24", "10.52.0.0/24"])
    assert amap.text("192.168.52.0/27") == "127.99.7.0/27"
    assert amap.text("10.52.0.0") == "127.99.7.64"
    assert amap.text("192.168.52.1") == "127.99.7.1"
