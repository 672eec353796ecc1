#!/usr/bin/env python3
"""Writes srv_answers.json: DNS SRV response packets in wire format (RFC 1035).

They are built the way a Windows DNS server hosting an AD domain's zones
answers a DC locator query: AA and RA set, answer owner names compressed
against the question, targets compressed against the domain's suffix, the
targets' A records in the additional section, TTL 600 (the netlogon default),
and the _msdcs zone's SOA in the authority section of negative answers. The
rest are the damaged or unusual packets ParseSrvAnswer must refuse or skip.

Run from anywhere: python3 tests/data/srv_answers.py
"""
import json
import os
import struct

DOMAIN = "corp.example.com"
DOMAIN_QNAME = "_ldap._tcp.dc._msdcs." + DOMAIN
SITE_QNAME = "_ldap._tcp.Paris._sites.dc._msdcs." + DOMAIN

T_A, T_SOA, T_TXT, T_SRV, T_OPT = 1, 6, 16, 33, 41
C_IN = 1
TTL = 600

# Header flags.
QR, AA, TC, RD, RA = 0x8000, 0x0400, 0x0200, 0x0100, 0x0080
WINDOWS_FLAGS = QR | AA | RD | RA


class Packet:
    """A DNS message under construction, with name compression as servers do it."""

    def __init__(self, qname, flags=WINDOWS_FLAGS, rcode=0, compress=True, msg_id=0x5d1c):
        self.compress = compress
        self.suffixes = {}  # lower-cased name suffix -> offset
        self.counts = [1, 0, 0, 0]
        self.flags = flags | rcode
        self.msg_id = msg_id
        self.body = bytearray()
        self.body += self.name(qname) + struct.pack("!HH", T_SRV, C_IN)

    def name(self, name):
        """The wire form of `name` written at the current end of the message."""
        out = bytearray()
        labels = [] if name == "." else name.split(".")
        for i in range(len(labels)):
            suffix = ".".join(labels[i:]).lower()
            if self.compress and suffix in self.suffixes:
                return bytes(out + struct.pack("!H", 0xC000 | self.suffixes[suffix]))
            offset = 12 + len(self.body) + len(out)
            if offset < 0x3FFF:
                self.suffixes.setdefault(suffix, offset)
            label = labels[i].encode()
            out += bytes([len(label)]) + label
        return bytes(out + b"\x00")

    def record(self, section, owner, rtype, rdata_parts, rclass=C_IN, ttl=TTL):
        """Appends a record; rdata_parts are bytes, or names (str) to encode in place."""
        head = self.name(owner) + struct.pack("!HHIH", rtype, rclass, ttl, 0)
        self.body += head  # rdata offsets (for compression) start after the head
        rdata = bytearray()
        for part in rdata_parts:
            if isinstance(part, str):
                # Names inside rdata are written where they will land.
                saved = len(self.body)
                self.body += rdata
                encoded = self.name(part)
                del self.body[saved:]
                rdata += encoded
            else:
                rdata += part
        self.body[-2:] = struct.pack("!H", len(rdata))
        self.body += rdata
        self.counts[section] += 1
        return self

    def srv(self, owner, priority, weight, port, target):
        return self.record(1, owner, T_SRV, [struct.pack("!HHH", priority, weight, port), target])

    def a(self, section, owner, address):
        return self.record(section, owner, T_A, [bytes(int(x) for x in address.split("."))])

    def soa(self, zone):
        return self.record(
            2, zone, T_SOA,
            ["dc1." + DOMAIN, "hostmaster." + DOMAIN,
             struct.pack("!IIIII", 118, 900, 600, 86400, 3600)], ttl=3600)

    def opt(self, udp_size=4000):
        # EDNS0 pseudo-record: root owner, class = UDP payload size.
        return self.record(3, ".", T_OPT, [], rclass=udp_size, ttl=0)

    def bytes(self):
        return struct.pack("!HHHHHH", self.msg_id, self.flags, *self.counts) + bytes(self.body)


def domain_answer(compress=True):
    p = Packet(DOMAIN_QNAME, compress=compress)
    p.srv(DOMAIN_QNAME, 0, 100, 389, "dc1." + DOMAIN)
    p.srv(DOMAIN_QNAME, 0, 50, 389, "DC2." + DOMAIN)  # Windows keeps the registered case
    p.srv(DOMAIN_QNAME, 0, 0, 389, "dc3." + DOMAIN)
    p.srv(DOMAIN_QNAME, 10, 100, 389, "dc4." + DOMAIN)
    for i, host in enumerate(["dc1", "DC2", "dc3", "dc4"]):
        p.a(3, host + "." + DOMAIN, "10.0.0.%d" % (11 + i))
    return p


def build():
    packets = {}

    def add(name, description, qname, data):
        packets[name] = {"description": description, "qname": qname, "hex": data.hex()}

    domain = domain_answer().bytes()
    add("domain", "Domain-wide DC list: dc1 (0/100), DC2 (0/50), dc3 (0/0), dc4 (10/100), "
        "all port 389, compressed, A records in the additional section.", DOMAIN_QNAME, domain)
    add("domain_uncompressed", "The same records as 'domain' with no name compression.",
        DOMAIN_QNAME, domain_answer(compress=False).bytes())

    site = Packet(SITE_QNAME)
    site.srv(SITE_QNAME, 0, 100, 389, "dc2." + DOMAIN)
    site.srv(SITE_QNAME, 0, 100, 389, "dc5." + DOMAIN)
    site.a(3, "dc2." + DOMAIN, "10.0.0.12").a(3, "dc5." + DOMAIN, "10.0.0.15")
    add("site_paris", "Site Paris: dc2 and dc5 (0/100, port 389); dc2 is also in 'domain' "
        "(as DC2), dc5 only here.", SITE_QNAME, site.bytes())

    nx = Packet(SITE_QNAME, rcode=3).soa("_msdcs." + DOMAIN)
    add("site_nxdomain", "NXDOMAIN for a site with no DCs of its own, SOA in authority.",
        SITE_QNAME, nx.bytes())

    nodata = Packet(DOMAIN_QNAME).soa("_msdcs." + DOMAIN)
    add("nodata", "NOERROR with an empty answer section (the name exists, no SRV records).",
        DOMAIN_QNAME, nodata.bytes())

    mixed = Packet(DOMAIN_QNAME)
    mixed.record(1, DOMAIN_QNAME, T_TXT, [b"\x0bnot-a-dc-rr"])
    mixed.srv(DOMAIN_QNAME, 0, 100, 389, "dc1." + DOMAIN)
    mixed.a(1, "dc1." + DOMAIN, "10.0.0.11")
    mixed.srv(DOMAIN_QNAME, 0, 100, 389, "dc2." + DOMAIN)
    mixed.opt()
    add("mixed_types", "Answer section TXT, SRV dc1, A dc1, SRV dc2; EDNS0 OPT in additional.",
        DOMAIN_QNAME, mixed.bytes())

    unavailable = Packet(DOMAIN_QNAME).srv(DOMAIN_QNAME, 0, 0, 0, ".")
    add("not_available", "One SRV record with target '.': the service is decidedly not "
        "available (RFC 2782).", DOMAIN_QNAME, unavailable.bytes())

    add("servfail", "SERVFAIL (rcode 2) from a recursive resolver, question only.",
        DOMAIN_QNAME, Packet(DOMAIN_QNAME, flags=QR | RD | RA, rcode=2).bytes())

    truncated_udp = Packet(DOMAIN_QNAME, flags=WINDOWS_FLAGS | TC)
    truncated_udp.srv(DOMAIN_QNAME, 0, 100, 389, "dc1." + DOMAIN)
    add("tc_partial", "TC set: a UDP answer that held only the first of the DCs.",
        DOMAIN_QNAME, truncated_udp.bytes())

    first_answer = 12 + len(Packet(DOMAIN_QNAME).body)
    add("cut_mid_record", "'domain' cut 15 bytes into its first answer record.",
        DOMAIN_QNAME, domain[:first_answer + 15])
    add("cut_header", "The first 8 bytes of 'domain': not even a header.", DOMAIN_QNAME,
        domain[:8])

    query = Packet(DOMAIN_QNAME, flags=RD).bytes()
    add("query_not_response", "A query (QR clear), not an answer.", DOMAIN_QNAME, query)

    # Damaged SRV data, each with one record whose rdata is written by hand.
    def raw_srv(rdata):
        p = Packet(DOMAIN_QNAME)
        p.record(1, DOMAIN_QNAME, T_SRV, [rdata])
        return p

    loop = Packet(DOMAIN_QNAME)
    head = loop.name(DOMAIN_QNAME) + struct.pack("!HHIH", T_SRV, C_IN, TTL, 8)
    target_at = 12 + len(loop.body) + len(head) + 6
    loop.body += head + struct.pack("!HHH", 0, 100, 389) + struct.pack("!H", 0xC000 | target_at)
    loop.counts[1] = 1
    add("pointer_loop", "SRV target is a compression pointer to itself.", DOMAIN_QNAME,
        loop.bytes())

    add("pointer_past_end", "SRV target is a compression pointer past the end of the message.",
        DOMAIN_QNAME, raw_srv(struct.pack("!HHHH", 0, 100, 389, 0xC000 | 0x3000)).bytes())
    add("rdata_short", "SRV record data of 4 bytes (priority and weight only).", DOMAIN_QNAME,
        raw_srv(struct.pack("!HH", 0, 100)).bytes())

    # rdlength 7 holds the fixed fields and one byte (0x01, a label length); the
    # label and the terminating zero are the next record's first bytes, a root
    # owner name and the high byte of its type, so the packet still parses.
    overrun = raw_srv(struct.pack("!HHH", 0, 100, 389) + b"\x01")
    overrun.a(1, ".", "10.0.0.11")
    add("target_overruns_rdata", "SRV target name runs past the record's rdlength into the "
        "next record.", DOMAIN_QNAME, overrun.bytes())
    return packets


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    document = {
        "comment": "DNS SRV answers for DC discovery (ldap/dc_discovery.h), raw wire-format "
                   "packets in hex, written by srv_answers.py (see its docstring): the shape "
                   "a Windows DNS server answers for AD domain corp.example.com with site "
                   "Paris (several DCs, priorities 0/10, weights 100/50/0, a site-specific "
                   "list), plus negative, unusual and damaged answers.",
        "generator": "tests/data/srv_answers.py",
        "packets": build(),
    }
    with open(os.path.join(here, "srv_answers.json"), "w") as out:
        json.dump(document, out, indent=1)
        out.write("\n")


if __name__ == "__main__":
    main()
