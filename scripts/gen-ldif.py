#!/usr/bin/env python3
"""Generate sample Active Directory users and groups as LDIF (for testdc.sh load).

Layout under OU=Sync,<base>:
  OU=People     regular users (plus "bulk" users when --big-group-members > --users)
  OU=Groups     global security groups, nested groups, the primary group, Big Group
  OU=Elsewhere  a few users and one group that a scoped config leaves out
  OU=Staging    empty; tests move objects into and out of scope through it

--user-ous A,B adds OU=A and OU=B under OU=People and puts the random users there,
round-robin (the fixed special users stay in OU=People); without it nothing changes.

Output is deterministic for a given set of options (seeded). Entries come in an
order ldapadd can follow: OUs, users, then groups with nested groups after their
member groups.

primaryGroupID cannot be set at creation (the DC assigns the group's RID), so
the primary-group users are emitted as plain members of "Primary Staff" and
--primary-group-pairs prints the follow-up, one "USER_DN<TAB>GROUP_DN" a line:

  ./scripts/gen-ldif.py --users 300 --primary-group-pairs |
    while IFS=$'\\t' read -r u g; do ./scripts/testdc.sh set-primary-group DIR "$u" "$g"; done
"""

import argparse
import base64
import random
import sys
import unicodedata

UAC_NORMAL = 512  # NORMAL_ACCOUNT
UAC_DISABLED = 514  # NORMAL_ACCOUNT | ACCOUNTDISABLE
GLOBAL_SECURITY = -2147483646
DOMAIN = "corp.example.com"

GIVEN = """Alice Bob Carol David Erin Frank Grace Heidi Ivan Judy Karl Laura Mallory
Nina Oscar Peggy Quentin Rupert Sybil Trent Ursula Victor Wendy Xavier Yvonne Zach
Aaron Bella Caleb Diana Ethan Fiona George Hannah Isaac Julia Kevin Lily Mason Nora
Owen Paula Ryan Sara Tom Uma Vera Walter Yusuf Zoe""".split()
FAMILY = """Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez
Hernandez Lopez Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez
Thompson White Harris Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King
Wright Scott Torres Nguyen Hill Flores Green Adams Nelson Baker Hall Rivera Campbell
Mitchell Carter Roberts""".split()
DEPARTMENTS = """Engineering Sales Marketing Finance Support Legal Operations Research
People IT""".split()
TITLES = "Engineer Manager Analyst Specialist Director Associate Consultant Lead".split()

# Fixed users with awkward names: (given, sn, cn, sAMAccountName). They come first
# in OU=People so they exist for any --users >= len(SPECIAL_USERS).
SPECIAL_USERS = [
    ("José", "Müller", "José Müller", "jmuller"),
    ("Zoë", "Ångström", "Zoë Ångström", "zangstrom"),
    ("小明", "王", "王小明", "wangxiaoming"),
    ("Ørjan", "Ødegård", "Ørjan Ødegård", "oodegard"),
    ("Jane", "Doe", "Doe, Jane", "jdoe"),  # comma: the DN escapes it as CN=Doe\, Jane
    ("Seán", "O'Brien", "Seán O'Brien", "sobrien"),
]


def needs_b64(value):
    """RFC 2849 SAFE-STRING check."""
    if value == "":
        return False
    if value[0] in " :<" or value[-1] == " ":
        return True
    return any(ord(c) > 126 or c in "\0\n\r" for c in value)


def line(attr, value):
    value = str(value)
    if needs_b64(value):
        return "%s:: %s" % (attr, base64.b64encode(value.encode("utf-8")).decode("ascii"))
    return "%s: %s" % (attr, value)


def rdn_escape(value):
    """RFC 4514 escaping of an attribute value inside a DN."""
    out = []
    for i, c in enumerate(value):
        if c in ',+"\\<>;' or (i == 0 and c in "# ") or (i == len(value) - 1 and c == " "):
            out.append("\\" + c)
        else:
            out.append(c)
    return "".join(out)


def ascii_fold(text):
    text = text.replace("Ø", "O").replace("ø", "o").replace("Å", "A").replace("å", "a")
    text = unicodedata.normalize("NFKD", text)
    return "".join(c for c in text if c.isascii() and c.isalnum()).lower()


class Gen:
    def __init__(self, args):
        self.a = args
        self.rng = random.Random("syncd-gen-ldif:%d" % args.seed)
        self.sync = "OU=Sync," + args.base
        self.people = "OU=People," + self.sync
        self.groups_ou = "OU=Groups," + self.sync
        self.elsewhere = "OU=Elsewhere," + self.sync
        self.staging = "OU=Staging," + self.sync
        self.user_ous = ["OU=%s,%s" % (rdn_escape(name), self.people) for name in args.user_ous]
        self.sams = set()
        self.primary = []
        self.cns = set()
        self.out = []

    def emit(self, dn, attrs):
        rows = [line("dn", dn)]
        for k, v in attrs:
            if isinstance(v, (list, tuple)):
                rows.extend(line(k, x) for x in v)
            else:
                rows.append(line(k, v))
        self.out.append("\n".join(rows) + "\n\n")

    def unique_sam(self, base):
        base = (base or "user")[:17]
        sam, n = base, 1
        while sam in self.sams:
            n += 1
            sam = "%s%d" % (base, n)
        self.sams.add(sam)
        return sam

    def user(self, ou, given, sn, cn, sam, idx, disabled=False):
        dn = "CN=%s,%s" % (rdn_escape(cn), ou)
        display = "%s %s" % (given, sn) if not cn.startswith(sn) else cn
        attrs = [
            ("objectClass", ["top", "person", "organizationalPerson", "user"]),
            ("cn", cn),
            ("name", cn),
            ("sAMAccountName", sam),
            ("userPrincipalName", "%s@%s" % (sam, DOMAIN)),
            ("givenName", given),
            ("sn", sn),
            ("displayName", display),
            ("mail", "%s@%s" % (sam, DOMAIN)),
            ("employeeID", "E%06d" % idx),
            ("department", DEPARTMENTS[idx % len(DEPARTMENTS)]),
            ("title", TITLES[idx % len(TITLES)]),
            ("userAccountControl", UAC_DISABLED if disabled else UAC_NORMAL),
        ]
        self.emit(dn, attrs)
        return dn

    def group(self, ou, cn, members, description=None):
        dn = "CN=%s,%s" % (rdn_escape(cn), ou)
        sam = self.unique_sam(ascii_fold(cn) or "group")
        attrs = [
            ("objectClass", ["top", "group"]),
            ("cn", cn),
            ("name", cn),
            ("sAMAccountName", sam),
            ("groupType", GLOBAL_SECURITY),
        ]
        if description:
            attrs.append(("description", description))
        if members:
            attrs.append(("member", members))
        self.emit(dn, attrs)
        return dn

    def random_person(self):
        while True:
            given = self.rng.choice(GIVEN)
            sn = self.rng.choice(FAMILY)
            cn = "%s %s" % (given, sn)
            if cn not in self.cns:
                break
            # Same name twice: AD needs distinct RDNs, people add a number.
            cn = "%s %s %d" % (given, sn, self.rng.randrange(2, 10000))
            if cn not in self.cns:
                break
        self.cns.add(cn)
        return given, sn, cn

    def run(self):
        a = self.a
        for dn, ou in [(self.sync, "Sync"), (self.people, "People"), (self.groups_ou, "Groups"),
                       (self.elsewhere, "Elsewhere"), (self.staging, "Staging")]:
            self.emit(dn, [("objectClass", ["top", "organizationalUnit"]), ("ou", ou)])
        for dn, ou in zip(self.user_ous, a.user_ous):
            self.emit(dn, [("objectClass", ["top", "organizationalUnit"]), ("ou", ou)])

        # Users in OU=People: the fixed special ones first, then random names.
        users = []
        for i in range(a.users):
            ou = self.people
            if i < len(SPECIAL_USERS):
                given, sn, cn, sam = SPECIAL_USERS[i]
                self.cns.add(cn)
                sam = self.unique_sam(sam)
            else:
                given, sn, cn = self.random_person()
                sam = self.unique_sam(ascii_fold(given[0] + sn))
                if self.user_ous:
                    ou = self.user_ous[i % len(self.user_ous)]
            disabled = i % 17 == 16  # every 17th user is disabled
            users.append(self.user(ou, given, sn, cn, sam, i, disabled))

        # Extra users so that Big Group can have K members when K > N.
        bulk = []
        for j in range(max(0, a.big_group_members - a.users)):
            idx = a.users + j
            cn = "Bulk User %05d" % (j + 1)
            bulk.append(self.user(self.people, "Bulk", "User %05d" % (j + 1), cn,
                                  self.unique_sam("bulk%05d" % (j + 1)), idx))

        # Users out of scope.
        others = []
        for j in range(5):
            given, sn, cn = self.random_person()
            others.append(self.user(self.elsewhere, given, sn, cn,
                                    self.unique_sam("ext" + ascii_fold(given[0] + sn)),
                                    900000 + j))

        # Regular numbered groups with random members.
        pool = users or bulk
        for g in range(a.groups):
            size = min(len(pool), 3 + self.rng.randrange(max(1, min(40, len(pool) // 5 + 1))))
            members = sorted(self.rng.sample(pool, size)) if pool else []
            self.group(self.groups_ou, "%s %04d" % (DEPARTMENTS[g % len(DEPARTMENTS)], g + 1),
                       members)

        def pick(k, start):
            return [pool[(start + i) % len(pool)] for i in range(min(k, len(pool)))] if pool else []

        # Nested chain: Nest Level 1 has Nest Level 2 has Nest Level 3.
        n3 = self.group(self.groups_ou, "Nest Level 3", pick(3, 10), "innermost nested group")
        n2 = self.group(self.groups_ou, "Nest Level 2", pick(3, 20) + [n3], "member of Nest Level 1")
        self.group(self.groups_ou, "Nest Level 1", pick(3, 30) + [n2], "outermost nested group")
        # Members here become primary-group users after set-primary-group.
        self.primary = users[len(SPECIAL_USERS):len(SPECIAL_USERS) + 3]
        self.group(self.groups_ou, "Primary Staff", self.primary + pick(2, 40),
                   "primary group (primaryGroupID) of the first users")
        self.group(self.groups_ou, "Empty Group", [], "no members")
        self.group(self.groups_ou, "Équipe Café", pick(4, 50), "non-ASCII group name")
        self.group(self.groups_ou, "Mixed Scope", pick(2, 60) + others[:2],
                   "members in and out of scope")
        self.group(self.elsewhere, "Elsewhere Group", others, "out of scope")
        if a.big_group_members > 0:
            self.group(self.groups_ou, "Big Group", (users + bulk)[:a.big_group_members],
                       "%d members" % a.big_group_members)
        return self.out


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--users", type=int, default=300, help="users in OU=People (default 300)")
    p.add_argument("--groups", type=int, default=None,
                   help="numbered groups in OU=Groups (default users/10); fixed extra groups are added")
    p.add_argument("--big-group-members", type=int, default=0,
                   help="when > 0, add 'Big Group' with K members (extra 'Bulk User' entries if K > users)")
    p.add_argument("--base", default="DC=corp,DC=example,DC=com", help="domain base DN")
    p.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    p.add_argument("--user-ous", default="",
                   help="comma-separated OU names to create under OU=People and spread the "
                        "random users over, round-robin (default: none, all in OU=People)")
    p.add_argument("--primary-group-pairs", action="store_true",
                   help="print USER_DN<TAB>GROUP_DN lines for set-primary-group instead of LDIF")
    a = p.parse_args()
    a.user_ous = [x.strip() for x in a.user_ous.split(",") if x.strip()]
    if a.groups is None:
        a.groups = a.users // 10
    if a.users < 0 or a.groups < 0 or a.big_group_members < 0:
        p.error("counts must be >= 0")

    g = Gen(a)
    out = g.run()
    # Emit as UTF-8 regardless of the locale.
    w = sys.stdout.buffer
    if a.primary_group_pairs:
        gdn = "CN=Primary Staff," + g.groups_ou
        for u in g.primary:
            w.write(("%s\t%s\n" % (u, gdn)).encode("utf-8"))
        return
    options = ("--users %d --groups %d --big-group-members %d --base %s --seed %d"
               % (a.users, a.groups, a.big_group_members, a.base, a.seed))
    if a.user_ous:
        options += " --user-ous " + ",".join(a.user_ous)
    w.write(("# gen-ldif.py %s\n" % options).encode("utf-8"))
    w.write(b"# entries: %d\n\n" % len(out))
    for entry in out:
        w.write(entry.encode("utf-8"))



if __name__ == "__main__":
    main()
