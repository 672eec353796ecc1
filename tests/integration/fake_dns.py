#!/usr/bin/env python3
"""A DNS server the integration tests control: answers SRV queries from a
table given on the command line and NXDOMAIN for everything else.

  fake_dns.py ADDRESS PORTFILE "QNAME PRIORITY WEIGHT PORT TARGET" ...

Listens on UDP ADDRESS:53, writes "ready" to PORTFILE once bound, and serves
until killed. Enough of RFC 1035 for glibc's resolver: one question, no
compression in what it sends.
"""
import socket
import struct
import sys

T_SRV, C_IN = 33, 1


def encode_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def read_question(packet):
    """(id, flags, qname, qtype, end of the question) of a query."""
    msg_id, flags, qdcount = struct.unpack("!HHH", packet[:6])
    if qdcount != 1:
        raise ValueError("one question expected")
    labels, at = [], 12
    while packet[at]:
        length = packet[at]
        labels.append(packet[at + 1:at + 1 + length].decode())
        at += 1 + length
    qtype, qclass = struct.unpack("!HH", packet[at + 1:at + 5])
    return msg_id, flags, ".".join(labels), qtype, at + 5


def main():
    address, ready_file, entries = sys.argv[1], sys.argv[2], sys.argv[3:]
    records = {}
    for entry in entries:
        qname, priority, weight, port, target = entry.split()
        records.setdefault(qname.lower(), []).append(
            (int(priority), int(weight), int(port), target))
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind((address, 53))
    with open(ready_file, "w") as f:
        f.write("ready\n")
    while True:
        packet, client = server.recvfrom(4096)
        try:
            msg_id, flags, qname, qtype, end = read_question(packet)
        except (ValueError, IndexError, struct.error):
            continue
        answers = records.get(qname.lower(), []) if qtype == T_SRV else []
        rcode = 0 if answers else 3  # NXDOMAIN
        header = struct.pack("!HHHHHH", msg_id, 0x8000 | 0x0400 | (flags & 0x0100) | 0x0080 | rcode,
                             1, len(answers), 0, 0)
        body = packet[12:end]
        for priority, weight, port, target in answers:
            rdata = struct.pack("!HHH", priority, weight, port) + encode_name(target)
            body += encode_name(qname) + struct.pack("!HHIH", T_SRV, C_IN, 600, len(rdata)) + rdata
        server.sendto(header + body, client)


if __name__ == "__main__":
    main()
