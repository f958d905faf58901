#!/usr/bin/env python3
# Copyright (c) 2026 ovs-flexmap contributors.
# Licensed under the Apache License, Version 2.0.
"""Traffic and configuration generator for the ovs-flexmap benchmark.

Writes a pcap of Ethernet/IPv4/UDP frames (destination MAC
02:fa:ce:00:00:01 by default) with N distinct 5-tuples spread over M
mappings, each mapping being one (destination IP, destination port).  The
same numbering gives the map entries (flexmap variant) and the OpenFlow
rules (stock-rules variant), so the three files always agree.

Mapping i (0 <= i < M):
    dst IP   = 10.0.0.0 + 1 + i // PORTS_PER_IP   (10.0.0.1, 10.0.0.2, ...)
    dst port = 1024 + i % PORTS_PER_IP
    backend  = MAC 02:00:XX:XX:XX:XX with XX.. = i + 1, port "null"
Tuple j (0 <= j < N) goes to mapping j % M; k = j // M makes the tuples
of one mapping distinct through the source port and source IP:
    src port = 1024 + k % 64000,  src IP = 172.16.0.0 + 1 + k // 64000
If N < M only the first N mappings receive traffic.

The pcap holds exactly N frames, one per tuple, in a shuffled order (fixed
seed) so consecutive packets do not walk the tables in order.  --size is
the frame size on the wire including the 4-byte FCS (64 by default, so the
captured frames are 60 bytes: DPDK's pcap PMD hands them over without FCS).

stdlib only.  Usage:
    bench-pcap.py --tuples N --mappings M --pcap FILE
                  [--maps FILE] [--flows FILE] [--size 64] [--seed 1]
    bench-pcap.py --self-test
"""

import argparse
import random
import struct
import sys

DST_MAC = "02:fa:ce:00:00:01"
SRC_MAC = "50:54:00:00:00:01"
PORTS_PER_IP = 16
MAP_TABLE = 1
OUT_PORT = "null"


def mac_bytes(mac):
    b = bytes(int(x, 16) for x in mac.split(":"))
    assert len(b) == 6
    return b


def ip_str(n):
    return "%d.%d.%d.%d" % ((n >> 24) & 255, (n >> 16) & 255,
                            (n >> 8) & 255, n & 255)


def mapping(i):
    """(dst ip as int, dst port) of mapping i."""
    return (0x0a000000 + 1 + i // PORTS_PER_IP, 1024 + i % PORTS_PER_IP)


def backend_mac(i, b=0, gen=0):
    """MAC of backend b of mapping i; 'gen' changes it (map churn)."""
    n = i + 1
    return "%02x:%02x:%02x:%02x:%02x:%02x" % (
        0x02 | ((gen & 0x3f) << 2), b & 255, (n >> 24) & 255,
        (n >> 16) & 255, (n >> 8) & 255, n & 255)


def tuple_of(j, m):
    """(src ip, dst ip, src port, dst port) of tuple j over m mappings."""
    i = j % m
    k = j // m
    dst_ip, dst_port = mapping(i)
    src_port = 1024 + k % 64000
    src_ip = 0xac100000 + 1 + k // 64000
    return src_ip, dst_ip, src_port, dst_port


def ip_checksum(hdr):
    s = sum(struct.unpack("!%dH" % (len(hdr) // 2), hdr))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return (~s) & 0xffff


def frame(src_ip, dst_ip, sport, dport, size, dst_mac, src_mac):
    caplen = size - 4                   # without FCS
    eth = dst_mac + src_mac + b"\x08\x00"
    udp_len = caplen - 14 - 20
    ip_len = 20 + udp_len
    ip = struct.pack("!BBHHHBBHII", 0x45, 0, ip_len, 0, 0, 64, 17, 0,
                     src_ip, dst_ip)
    ip = ip[:10] + struct.pack("!H", ip_checksum(ip)) + ip[12:]
    udp = struct.pack("!HHHH", sport, dport, udp_len, 0)   # no checksum
    payload = bytes(udp_len - 8)
    f = eth + ip + udp + payload
    assert len(f) == caplen
    return f


def write_pcap(path, tuples, mappings, size=64, seed=1,
               dst_mac=DST_MAC, src_mac=SRC_MAC):
    if size < 64 or size > 1518:
        raise ValueError("size must be 64..1518")
    if tuples < 1 or mappings < 1:
        raise ValueError("tuples and mappings must be >= 1")
    if tuples // mappings >= 64000 * 65000:
        raise ValueError("too many tuples per mapping")
    order = list(range(tuples))
    random.Random(seed).shuffle(order)
    dmac, smac = mac_bytes(dst_mac), mac_bytes(src_mac)
    caplen = size - 4
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
        for n, j in enumerate(order):
            data = frame(*tuple_of(j, mappings), size, dmac, smac)
            f.write(struct.pack("<IIII", n // 1000000, n % 1000000,
                                caplen, caplen))
            f.write(data)


def map_line(i, backends=1, gen=0):
    """add-maps line of mapping i, with 'backends' backends of weight 1."""
    ip, port = mapping(i)
    if backends == 1:
        bs = "backend(mac=%s,port=%s)" % (backend_mac(i, 0, gen), OUT_PORT)
    else:
        bs = ",".join("backend(mac=%s,port=%s,weight=1)"
                      % (backend_mac(i, b, gen), OUT_PORT)
                      for b in range(backends))
    return ("table=%d,udp,nw_dst=%s,tp_dst=%d,%s"
            % (MAP_TABLE, ip_str(ip), port, bs))


def flow_line(i, gen=0):
    """add-flows line of mapping i: one rule per mapping."""
    ip, port = mapping(i)
    return ("udp,nw_dst=%s,tp_dst=%d,actions=mod_dl_dst:%s,output:%s"
            % (ip_str(ip), port, backend_mac(i, 0, gen), OUT_PORT))


def group_line(i, backends):
    """add-groups line (OpenFlow 1.5) of mapping i: a select group with one
    bucket per backend, dp_hash selection, as OVN programs load balancers."""
    buckets = ",".join(
        "bucket=bucket_id=%d,weight=1,actions=mod_dl_dst:%s,output:%s"
        % (b, backend_mac(i, b), OUT_PORT) for b in range(backends))
    return ("group_id=%d,type=select,selection_method=dp_hash,%s"
            % (i + 1, buckets))


def group_flow_line(i):
    """add-flows line sending mapping i to its select group."""
    ip, port = mapping(i)
    return ("udp,nw_dst=%s,tp_dst=%d,actions=group:%d"
            % (ip_str(ip), port, i + 1))


def write_lines(path, m, fn):
    """Writes fn(i) for every mapping, last mapping first, so that the last
    line is mapping 0, which every pcap holds traffic for."""
    with open(path, "w") as f:
        for i in range(m - 1, -1, -1):
            f.write(fn(i) + "\n")


def read_pcap(path):
    """Returns the list of frames (bytes) in a pcap written above."""
    with open(path, "rb") as f:
        data = f.read()
    magic, vmaj, vmin, _, _, _, link = struct.unpack("<IHHiIII", data[:24])
    assert magic == 0xa1b2c3d4 and (vmaj, vmin) == (2, 4) and link == 1
    off, frames = 24, []
    while off < len(data):
        _, _, incl, orig = struct.unpack("<IIII", data[off:off + 16])
        assert incl == orig
        frames.append(data[off + 16:off + 16 + incl])
        off += 16 + incl
    return frames


def self_test():
    import os
    import tempfile
    d = tempfile.mkdtemp(prefix="bench-pcap-test.")
    try:
        for n, m in ((1000, 64), (64, 1000), (4096, 4096), (70000, 1)):
            p = os.path.join(d, "t.pcap")
            write_pcap(p, n, m)
            frames = read_pcap(p)
            assert len(frames) == n, (len(frames), n)
            seen, dsts = set(), set()
            for fr in frames:
                assert len(fr) == 60
                assert fr[0:6] == mac_bytes(DST_MAC)
                assert fr[12:14] == b"\x08\x00"
                ip = fr[14:34]
                assert ip[0] == 0x45 and ip[9] == 17
                assert ip_checksum(ip) == 0, "bad IPv4 checksum"
                assert struct.unpack("!H", ip[2:4])[0] == 46
                src, dst = struct.unpack("!II", ip[12:20])
                sport, dport, ulen = struct.unpack("!HHH", fr[34:40])
                assert ulen == 26
                seen.add((src, dst, 17, sport, dport))
                dsts.add((dst, dport))
            assert len(seen) == n, "5-tuples not distinct"
            assert len(dsts) == min(n, m), (len(dsts), n, m)
            want = {mapping(i) for i in range(min(n, m))}
            assert dsts == want
        p = os.path.join(d, "big.pcap")
        write_pcap(p, 10, 3, size=128)
        assert all(len(fr) == 124 for fr in read_pcap(p))
        assert map_line(0) == ("table=1,udp,nw_dst=10.0.0.1,tp_dst=1024,"
                               "backend(mac=02:00:00:00:00:01,port=null)")
        assert map_line(1, 2, gen=1) == (
            "table=1,udp,nw_dst=10.0.0.1,tp_dst=1025,"
            "backend(mac=06:00:00:00:00:02,port=null,weight=1),"
            "backend(mac=06:01:00:00:00:02,port=null,weight=1)")
        assert group_line(0, 2) == (
            "group_id=1,type=select,selection_method=dp_hash,"
            "bucket=bucket_id=0,weight=1,actions=mod_dl_dst:"
            "02:00:00:00:00:01,output:null,"
            "bucket=bucket_id=1,weight=1,actions=mod_dl_dst:"
            "02:01:00:00:00:01,output:null")
        assert group_flow_line(0) == ("udp,nw_dst=10.0.0.1,tp_dst=1024,"
                                      "actions=group:1")
        p = os.path.join(d, "lines")
        write_lines(p, 3, map_line)
        assert open(p).read().splitlines()[-1] == map_line(0)
        assert flow_line(16) == ("udp,nw_dst=10.0.0.2,tp_dst=1024,"
                                 "actions=mod_dl_dst:02:00:00:00:00:11,"
                                 "output:null")
        # 1M mappings stay inside 10.0.0.0/8 and keep distinct keys.
        keys = {mapping(i) for i in range(0, 1 << 20, 997)}
        assert len(keys) == len(range(0, 1 << 20, 997))
        assert mapping((1 << 20) - 1)[0] < 0x0b000000
        print("bench-pcap.py self-test: ok")
    finally:
        for f in os.listdir(d):
            os.unlink(os.path.join(d, f))
        os.rmdir(d)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tuples", type=int)
    ap.add_argument("--mappings", type=int)
    ap.add_argument("--pcap")
    ap.add_argument("--maps", help="also write M add-maps entries here")
    ap.add_argument("--flows", help="also write M add-flows rules here")
    ap.add_argument("--size", type=int, default=64,
                    help="frame size on the wire incl. FCS (default 64)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--self-test", action="store_true")
    a = ap.parse_args()
    if a.self_test:
        self_test()
        return 0
    if not a.tuples or not a.mappings:
        ap.error("--tuples and --mappings are required")
    if a.pcap:
        write_pcap(a.pcap, a.tuples, a.mappings, a.size, a.seed)
    if a.maps:
        write_lines(a.maps, a.mappings, map_line)
    if a.flows:
        write_lines(a.flows, a.mappings, flow_line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
