// ReadChangedObjects against replayed server answers: the incremental re-read
// of what a change feed named, truncated member ranges included (Samba never
// truncates, so this path is covered from data); and ReadDirectory's second
// read of groups naming members it did not see (a move during the read,
// which no test can time against a real DC).
#include "source/ad/reader.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <cstdio>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "ldap/codec.h"
#include "tests/unit/replay_directory.h"
#include "tests/unit/test_util.h"

namespace syncd::ad {
namespace {

using testing::RawGuid;
using testing::RawSid;
using testing::ReplayDirectory;
using testing::RunAwaitable;

constexpr char kNc[] = "DC=corp,DC=example,DC=com";
constexpr char kPeople[] = "OU=People,DC=corp,DC=example,DC=com";
constexpr char kGroups[] = "OU=Groups,DC=corp,DC=example,DC=com";
constexpr char kDomainSid[] = "S-1-5-21-3623811015-3361044348-30300820";

Settings TestConfig() {
  Settings c;
  c.source.base_dn = kNc;
  c.source.range_step = 0;  // let the server cut the windows, as by default
  c.scope.user_bases = {kPeople};
  c.scope.group_bases = {kGroups};
  return c;
}

class TruncatedRangeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    recording_ =
        boost::json::parse(testing::ReadTestData("range_truncated_incremental.json")).as_object();
    ASSERT_FALSE(recording_.empty());
    directory_.Load(recording_);
    group_ = RawGuid(recording_.at("group").as_string());
    for (const auto& m : recording_.at("members").as_array()) {
      members_.insert(RawGuid(m.as_string()));
    }
    primary_member_ = RawGuid(recording_.at("primary_group_member").as_string());
    changes_.changed = {group_};
  }

  IncrementalRead Read(bool full_member_lists = false, bool cached = false) {
    auto read = RunAwaitable(ReadChangedObjects(
        directory_, config_, kNc, changes_, full_member_lists,
        [cached](const std::string&) { return cached; }, &stats_));
    EXPECT_TRUE(read.ok()) << read.status().ToString();
    return read.ok() ? std::move(read).value() : IncrementalRead{};
  }

  std::set<std::string> AllMembers() const {
    std::set<std::string> all = members_;
    all.insert(primary_member_);
    return all;
  }

  // The base reads that fetched later windows of `member`.
  std::vector<std::string> RangeRequests() const {
    std::vector<std::string> out;
    for (const auto& r : directory_.search_requests) {
      EXPECT_EQ(r.scope, ldap::Scope::kBase);
      EXPECT_TRUE(r.extended_dn) << "member values are keyed by their Extended-DN GUID";
      EXPECT_EQ(r.base, "CN=All Staff,OU=Groups,DC=corp,DC=example,DC=com");
      for (const auto& a : r.attributes) out.push_back(a);
    }
    return out;
  }

  boost::json::object recording_;
  ReplayDirectory directory_;
  Settings config_ = TestConfig();
  ldap::ChangeSet changes_;
  ReadStats stats_;
  std::string group_;
  std::set<std::string> members_;
  std::string primary_member_;
};

TEST_F(TruncatedRangeTest, ChangedGroupsTruncatedMemberIsReadToTheEnd) {
  IncrementalRead read = Read();
  ASSERT_TRUE(read.complete) << read.incomplete_reason;
  ASSERT_EQ(read.present.size(), 1u);
  EXPECT_EQ(read.present[0].name, "All Staff");
  EXPECT_EQ(read.present[0].kind, ObjectKind::kGroup);
  ASSERT_TRUE(read.members.contains(group_));
  EXPECT_EQ(read.members.at(group_).size(), 9u);
  EXPECT_EQ(read.members.at(group_), AllMembers());
  EXPECT_FALSE(read.member_deltas.contains(group_));
  EXPECT_EQ(RangeRequests(), std::vector<std::string>{"member;range=5-*"});
  EXPECT_EQ(stats_.range_reads, 1);
  EXPECT_TRUE(read.absent.empty());
  EXPECT_TRUE(read.skipped.empty());
}

TEST_F(TruncatedRangeTest, GroupsOwnMembershipsComeFromMemberOf) {
  IncrementalRead read = Read();
  ASSERT_TRUE(read.member_of.contains(group_));
  EXPECT_EQ(read.member_of.at(group_),
            std::set<std::string>{RawGuid("b16a0c5e-4d2f-4a8e-9c31-a11057aff001")});
}

TEST_F(TruncatedRangeTest, RereadRequestsAskForTheFirstWindowAndMemberOf) {
  Read();
  ASSERT_FALSE(directory_.paged_requests.empty());
  bool saw_group_search = false;
  for (const auto& r : directory_.paged_requests) {
    if (r.base != kGroups) continue;
    saw_group_search = true;
    EXPECT_TRUE(r.extended_dn);
    EXPECT_NE(r.filter.find(ldap::EscapeFilterBytes(group_)), std::string::npos) << r.filter;
    std::set<std::string> lower;
    for (const auto& a : r.attributes) lower.insert(AsciiLower(a));
    EXPECT_TRUE(lower.contains("member"));
    EXPECT_TRUE(lower.contains("memberof"));
  }
  EXPECT_TRUE(saw_group_search);
}

TEST_F(TruncatedRangeTest, CachedGroupWhoseDeltaAsksForARereadGetsTheWholeList) {
  changes_.members[group_].added = {RawGuid("c0ffee00-1234-4abc-8def-000000000001")};
  changes_.members[group_].reread = true;
  IncrementalRead read = Read(/*full_member_lists=*/false, /*cached=*/true);
  ASSERT_TRUE(read.complete) << read.incomplete_reason;
  EXPECT_EQ(read.members[group_], AllMembers());
  EXPECT_FALSE(read.member_deltas.contains(group_));
}

TEST_F(TruncatedRangeTest, UsnFeedReadsTheWholeListEvenWithADelta) {
  changes_.members[group_].added = {RawGuid("c0ffee00-1234-4abc-8def-000000000001")};
  IncrementalRead read = Read(/*full_member_lists=*/true, /*cached=*/true);
  ASSERT_TRUE(read.complete) << read.incomplete_reason;
  EXPECT_EQ(read.members[group_], AllMembers());
  EXPECT_FALSE(read.member_deltas.contains(group_));
}

TEST_F(TruncatedRangeTest, CachedGroupWithAUsableDeltaKeepsItAndReadsNoRange) {
  const std::string added = RawGuid("c0ffee00-1234-4abc-8def-000000000001");
  const std::string removed = RawGuid("c0ffee00-1234-4abc-8def-000000000042");
  changes_.members[group_].added = {added};
  changes_.members[group_].removed = {removed};
  IncrementalRead read = Read(/*full_member_lists=*/false, /*cached=*/true);
  ASSERT_TRUE(read.complete) << read.incomplete_reason;
  ASSERT_TRUE(read.member_deltas.contains(group_));
  EXPECT_EQ(read.member_deltas.at(group_).added, std::set<std::string>{added});
  EXPECT_EQ(read.member_deltas.at(group_).removed, std::set<std::string>{removed});
  EXPECT_FALSE(read.members.contains(group_));
  EXPECT_TRUE(directory_.search_requests.empty());
  EXPECT_EQ(stats_.range_reads, 0);
}

TEST_F(TruncatedRangeTest, UncachedGroupWithADeltaStillGetsTheWholeList) {
  // A delta says nothing about the values the cache never had.
  changes_.members[group_].added = {RawGuid("c0ffee00-1234-4abc-8def-000000000001")};
  IncrementalRead read = Read(/*full_member_lists=*/false, /*cached=*/false);
  EXPECT_EQ(read.members[group_], AllMembers());
}

TEST_F(TruncatedRangeTest, GapInTheFollowUpWindowLeavesTheReadIncomplete) {
  ASSERT_EQ(directory_.search_answers.size(), 1u);
  auto& window = directory_.search_answers[0].entries[0].attributes;
  window["member;range=6-*"] = window.at("member;range=5-*");
  window.erase("member;range=5-*");
  IncrementalRead read = Read();
  EXPECT_FALSE(read.complete);
  EXPECT_NE(read.incomplete_reason.find("CN=All Staff"), std::string::npos)
      << read.incomplete_reason;
  EXPECT_FALSE(read.members.contains(group_)) << "no partial member list may stand for the whole";
  ASSERT_EQ(read.present.size(), 1u) << "the group itself is still good for updates";
}

TEST_F(TruncatedRangeTest, FailedFollowUpReadLeavesTheReadIncomplete) {
  directory_.search_answers[0].error = Status::Unavailable("connection reset");
  IncrementalRead read = Read();
  EXPECT_FALSE(read.complete);
  EXPECT_FALSE(read.members.contains(group_));
}

// The same path with Windows' default window (MaxValRange 1500), built here
// rather than stored: an empty plain `member` next to member;range=0-1499,
// then member;range=1500-* on the follow-up base read.
TEST(ReadChangedObjects, WindowsDefaultWindowOf1500IsReadToTheEnd) {
  const std::string group = RawGuid("b16a0c5e-4d2f-4a8e-9c31-a11057aff002");
  const std::string dn = "CN=Everyone,OU=Groups,DC=corp,DC=example,DC=com";
  auto value = [](int i, std::string* guid) {
    std::string digits = std::to_string(i);
    const std::string dashed =
        "c0ffee00-1234-4abc-8def-" + std::string(12 - digits.size(), '0') + digits;
    *guid = RawGuid(dashed);
    return "<GUID=" + std::string(dashed) + ">;<SID=" + kDomainSid + "-" +
           std::to_string(3000 + i) + ">;CN=u" + std::to_string(i) + "," + kPeople;
  };
  std::set<std::string> expected;
  ldap::Entry entry;
  entry.dn = dn;
  entry.attributes["objectguid"] = {group};
  entry.attributes["objectsid"] = {RawSid(std::string(kDomainSid) + "-1202")};
  entry.attributes["name"] = {"Everyone"};
  entry.attributes["member"] = {};
  auto& first = entry.attributes["member;range=0-1499"];
  std::string guid;
  for (int i = 0; i < 1500; ++i) {
    first.push_back(value(i, &guid));
    expected.insert(guid);
  }
  ldap::Entry rest;
  rest.dn = dn;
  auto& last = rest.attributes["member;range=1500-*"];
  for (int i = 1500; i < 1503; ++i) {
    last.push_back(value(i, &guid));
    expected.insert(guid);
  }

  ReplayDirectory directory;
  ReplayDirectory::PagedAnswer search;
  search.base = kGroups;
  search.filter_has = {"(objectClass=group)", ldap::EscapeFilterBytes(group)};
  search.entries = {entry};
  directory.paged_answers = {search};
  ReplayDirectory::SearchAnswer window;
  window.base = dn;
  window.attributes = std::vector<std::string>{"member;range=1500-*"};
  window.entries = {rest};
  directory.search_answers = {window};

  ldap::ChangeSet changes;
  changes.changed = {group};
  ReadStats stats;
  auto read = RunAwaitable(ReadChangedObjects(
      directory, TestConfig(), kNc, changes, /*full_member_lists=*/true,
      [](const std::string&) { return true; }, &stats));
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  ASSERT_TRUE(read->complete) << read->incomplete_reason;
  ASSERT_TRUE(read->members.contains(group));
  EXPECT_EQ(read->members.at(group).size(), 1503u);
  EXPECT_EQ(read->members.at(group), expected);
  ASSERT_EQ(directory.search_requests.size(), 1u);
  EXPECT_EQ(directory.search_requests[0].attributes,
            std::vector<std::string>{"member;range=1500-*"});
  EXPECT_EQ(stats.range_reads, 1);
}

TEST(ReadChangedObjects, NamedButNotFoundAndTombstonesAreAbsent) {
  const std::string gone = RawGuid("5c1f0b7a-3e52-4d8b-9a11-0e7e00000005");
  const std::string moved_out = RawGuid("5c1f0b7a-3e52-4d8b-9a11-0b0b00000002");
  ReplayDirectory directory;  // finds nothing anywhere
  ldap::ChangeSet changes;
  changes.changed = {moved_out};
  changes.renamed = {moved_out};
  changes.deleted = {gone};
  ReadStats stats;
  auto read = RunAwaitable(ReadChangedObjects(
      directory, TestConfig(), kNc, changes, false, [](const std::string&) { return true; },
      &stats));
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(read->absent, (std::set<std::string>{gone, moved_out}));
  EXPECT_TRUE(read->present.empty());
  EXPECT_TRUE(read->complete);
  // The one not found was looked for as a container too, across the partition.
  bool container_search = false;
  for (const auto& r : directory.paged_requests) {
    if (r.base == kNc && r.filter.find("organizationalUnit") != std::string::npos) {
      container_search = true;
      EXPECT_NE(r.filter.find(ldap::EscapeFilterBytes(moved_out)), std::string::npos);
      EXPECT_EQ(r.filter.find(ldap::EscapeFilterBytes(gone)), std::string::npos)
          << "tombstones are not re-read";
    }
  }
  EXPECT_TRUE(container_search);
}

TEST(ReadChangedObjects, ChangedButNotRenamedIsNotLookedForAsAContainer) {
  const std::string gone = RawGuid("5c1f0b7a-3e52-4d8b-9a11-0b0b00000002");
  ReplayDirectory directory;
  ldap::ChangeSet changes;
  changes.changed = {gone};
  ReadStats stats;
  auto read = RunAwaitable(ReadChangedObjects(
      directory, TestConfig(), kNc, changes, false, [](const std::string&) { return true; },
      &stats));
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(read->absent, std::set<std::string>{gone});
  for (const auto& r : directory.paged_requests) {
    EXPECT_EQ(r.filter.find("organizationalUnit"), std::string::npos) << r.base << " " << r.filter;
  }
}

// DirSync reports a renamed or moved OU but none of its children: they are
// found below it and re-read like named objects.
TEST(ReadChangedObjects, RenamedContainerBringsInItsChildren) {
  const std::string ou = RawGuid("9e0b44d1-27c8-4b3f-8d6e-5a1e50000020");
  const std::string bob = RawGuid("5c1f0b7a-3e52-4d8b-9a11-0b0b00000002");
  const std::string sales = std::string("OU=Sales,") + kPeople;
  ReplayDirectory directory;
  ReplayDirectory::PagedAnswer container;
  container.base = kNc;
  container.filter_has = {"(objectClass=organizationalUnit)", ldap::EscapeFilterBytes(ou)};
  ldap::Entry ou_entry;
  ou_entry.dn = sales;
  ou_entry.attributes["objectguid"] = {ou};
  container.entries = {ou_entry};
  ReplayDirectory::PagedAnswer children;
  children.base = sales;
  children.filter_has = {"(objectClass=user)", "(objectClass=group)"};
  ldap::Entry child;
  child.dn = "CN=Bob Jones," + sales;
  child.attributes["objectguid"] = {bob};
  children.entries = {child};
  ReplayDirectory::PagedAnswer reread;
  reread.base = kPeople;
  reread.filter_has = {"(objectCategory=person)", ldap::EscapeFilterBytes(bob)};
  ldap::Entry bob_entry = child;
  bob_entry.attributes["samaccountname"] = {"bob"};
  bob_entry.attributes["userprincipalname"] = {"bob@corp.example.com"};
  bob_entry.attributes["name"] = {"Bob Jones"};
  reread.entries = {bob_entry};
  directory.paged_answers = {container, children, reread};

  ldap::ChangeSet changes;
  changes.changed = {ou};
  changes.renamed = {ou};
  ReadStats stats;
  auto read = RunAwaitable(ReadChangedObjects(
      directory, TestConfig(), kNc, changes, false, [](const std::string&) { return true; },
      &stats));
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  ASSERT_EQ(read->present.size(), 1u);
  EXPECT_EQ(read->present[0].guid, bob);
  EXPECT_EQ(read->present[0].source->dn, "CN=Bob Jones," + sales);
  EXPECT_EQ(read->absent, std::set<std::string>{ou}) << "the OU itself is no synced object";
}

// BUG (demonstrated): a user's memberOf is ranged by the DC like any
// multi-valued attribute past MaxValRange ([MS-ADTS] 3.1.1.3.1.3.3 names back
// links explicitly). ReadChangedObjects reads only the plain `memberOf`, so a
// user in more groups than one window holds gets an empty (or partial)
// member_of, and BuildIncrementalPlan then removes every cached membership of
// that user not in it.
TEST(ReadChangedObjects, RangedMemberOfIsReadToTheEnd) {
  const std::string user = RawGuid("5c1f0b7a-3e52-4d8b-9a11-0a1ce0000099");
  const std::string dn = "CN=Heavy User,OU=People,DC=corp,DC=example,DC=com";
  auto group_value = [](int i) {
    return "<GUID=b16a0c5e-4d2f-4a8e-9c31-a11057aff1" + std::to_string(10 + i) +
           ">;<SID=" + kDomainSid + "-" + std::to_string(1300 + i) + ">;CN=g" + std::to_string(i) +
           "," + kGroups;
  };
  ldap::Entry entry;
  entry.dn = dn;
  entry.attributes["objectguid"] = {user};
  entry.attributes["objectsid"] = {RawSid(std::string(kDomainSid) + "-1400")};
  entry.attributes["samaccountname"] = {"heavy"};
  entry.attributes["userprincipalname"] = {"heavy@corp.example.com"};
  entry.attributes["name"] = {"Heavy User"};
  entry.attributes["useraccountcontrol"] = {"512"};
  entry.attributes["memberof"] = {};
  entry.attributes["memberof;range=0-1"] = {group_value(0), group_value(1)};
  ldap::Entry rest;
  rest.dn = dn;
  rest.attributes["memberof;range=2-*"] = {group_value(2)};

  ReplayDirectory directory;
  ReplayDirectory::PagedAnswer search;
  search.base = kPeople;
  search.filter_has = {"(objectCategory=person)", ldap::EscapeFilterBytes(user)};
  search.entries = {entry};
  directory.paged_answers = {search};
  ReplayDirectory::SearchAnswer window;
  window.base = dn;
  window.attributes = std::vector<std::string>{"memberof;range=2-*"};
  window.entries = {rest};
  directory.search_answers = {window};

  ldap::ChangeSet changes;
  changes.changed = {user};
  ReadStats stats;
  auto read = RunAwaitable(ReadChangedObjects(
      directory, TestConfig(), kNc, changes, false, [](const std::string&) { return true; },
      &stats));
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  ASSERT_EQ(read->present.size(), 1u);
  ASSERT_TRUE(read->member_of.contains(user));
  std::set<std::string> groups;
  for (int i = 0; i < 3; ++i) {
    groups.insert(RawGuid("b16a0c5e-4d2f-4a8e-9c31-a11057aff1" + std::to_string(10 + i)));
  }
  EXPECT_EQ(read->member_of.at(user), groups);
}

// A full read of one group (Staff) and the users Ann, Cy and an excluded
// one; Staff names Ann by her DN after a move that happened between the
// users' page and the groups' page, Cy and the excluded user as read, a
// printer the user filter leaves out, and an account outside every base.
class FullReadMembersTest : public ::testing::Test {
 protected:
  static constexpr char kAnn[] = "0e5b0a6c-1111-4c4e-9d59-0a1b2c3d4e01";
  static constexpr char kCy[] = "0e5b0a6c-2222-4c4e-9d59-0a1b2c3d4e02";
  static constexpr char kExcluded[] = "0e5b0a6c-3333-4c4e-9d59-0a1b2c3d4e03";
  static constexpr char kPrinter[] = "0e5b0a6c-4444-4c4e-9d59-0a1b2c3d4e04";
  static constexpr char kFar[] = "0e5b0a6c-5555-4c4e-9d59-0a1b2c3d4e05";
  static constexpr char kStaff[] = "0e5b0a6c-6666-4c4e-9d59-0a1b2c3d4e06";

  static std::string User(const std::string& cn, const std::string& ou, const char* guid) {
    return R"({"dn": "CN=)" + cn + "," + ou + R"(", "attributes": {"objectGUID": ["guid:)" + guid +
           R"("], "sAMAccountName": [")" + AsciiLower(cn) + R"("], "name": [")" + cn + R"("]}})";
  }
  static std::string ExtendedDn(const char* guid, const std::string& dn) {
    return "<GUID=" + std::string(guid) + ">;" + dn;
  }
  // Staff with `members`, as a JSON entry.
  static std::string Staff(const std::vector<std::string>& members) {
    std::string values;
    for (const auto& m : members) values += (values.empty() ? "\"" : ", \"") + m + "\"";
    return std::string(R"({"dn": "CN=Staff,)") + kGroups +
           R"(", "attributes": {"objectGUID": ["guid:)" + kStaff +
           R"("], "sAMAccountName": ["staff"], "name": ["Staff"], "member": [)" + values + "]}}";
  }

  void Load(const std::vector<std::string>& staff_members, const std::string& reread_answer) {
    const std::string people = kPeople;
    const std::string recording =
        R"({"paged": [)" + reread_answer + R"({"base": ")" + people +
        R"(", "filter_has": ["objectClass=user"], "entries": [)" + User("Ann", people, kAnn) +
        ", " + User("Cy", people, kCy) + ", " + User("Excluded", people, kExcluded) +
        R"(]}, {"base": ")" + kGroups + R"(", "filter_has": ["objectClass=group"], "entries": [)" +
        Staff(staff_members) + "]}]}";
    directory_.Load(boost::json::parse(recording).as_object());
  }

  ReadSnapshot Read() {
    Settings config = TestConfig();
    config.scope.exclude = {"excluded"};
    scope::Evaluator::InScope in_scope;
    in_scope.member = [this](const ObjectRef& group, const ObjectRef& member) {
      offered_.push_back({group->guid, member->guid});
    };
    auto read = RunAwaitable(ReadDirectory(directory_, config, &stats_, in_scope));
    EXPECT_TRUE(read.ok()) << read.status().ToString();
    return read.ok() ? std::move(read).value() : ReadSnapshot{};
  }

  std::set<std::string> StaffMembers(const ReadSnapshot& snapshot) const {
    std::set<std::string> members;
    for (const auto& m : snapshot.desired.memberships) {
      EXPECT_EQ(m.group_guid, RawGuid(kStaff));
      members.insert(m.member_guid.str());
    }
    return members;
  }

  std::vector<ldap::SearchRequest> Rereads() const {
    std::vector<ldap::SearchRequest> out;
    for (const auto& r : directory_.paged_requests) {
      if (r.extended_dn) out.push_back(r);
    }
    return out;
  }

  ReplayDirectory directory_;
  ReadStats stats_;
  // The edges the scope offered while the read went on (InScope.member).
  std::vector<std::pair<std::string, std::string>> offered_;
};

// Regression (issue 13): the full read resolves member DNs against the DNs it
// read, and dropped one it had not seen: a member moved between its page and
// its group's page lost the membership, which the complete read then removed
// from the store until the group next changed.
TEST_F(FullReadMembersTest, MemberMovedDuringTheReadIsFoundByGuidInASecondRead) {
  const std::string ann_moved = "CN=Ann,OU=East," + std::string(kPeople);
  const std::string cy = "CN=Cy," + std::string(kPeople);
  const std::string printer = "CN=Printer," + std::string(kPeople);
  const std::string far = "CN=Far,OU=Elsewhere," + std::string(kNc);
  Load({ann_moved, cy, printer, far},
       R"({"base": ")" + std::string(kGroups) + R"(", "filter_has_guids": [")" + kStaff +
           R"("], "entries": [)" +
           Staff({ExtendedDn(kAnn, ann_moved), ExtendedDn(kCy, cy), ExtendedDn(kPrinter, printer),
                  ExtendedDn(kFar, far)}) +
           "]}, ");
  const ReadSnapshot snapshot = Read();
  EXPECT_TRUE(snapshot.complete) << snapshot.incomplete_reason;
  EXPECT_EQ(StaffMembers(snapshot), (std::set<std::string>{RawGuid(kAnn), RawGuid(kCy)}));
  const auto rereads = Rereads();
  ASSERT_EQ(rereads.size(), 1u);
  EXPECT_EQ(rereads[0].base, kGroups);
  EXPECT_NE(rereads[0].filter.find(ldap::EscapeFilterBytes(RawGuid(kStaff))), std::string::npos);
  EXPECT_NE(rereads[0].filter.find("objectClass=group"), std::string::npos)
      << "the second read keeps the group filter: " << rereads[0].filter;
  // Cy was offered as the first read resolved her; the second read found her
  // again, and must not offer her twice.
  EXPECT_EQ(offered_,
            (std::vector<std::pair<std::string, std::string>>{{RawGuid(kStaff), RawGuid(kCy)}}));
}

// Members that were read, excluded, or lie outside every base explain
// themselves: no second read.
TEST_F(FullReadMembersTest, NoSecondReadWhenEveryMemberUnderTheBasesWasRead) {
  const std::string cy = "CN=Cy," + std::string(kPeople);
  const std::string excluded = "CN=Excluded," + std::string(kPeople);
  const std::string far = "CN=Far,OU=Elsewhere," + std::string(kNc);
  Load({cy, excluded, far}, "");
  const ReadSnapshot snapshot = Read();
  EXPECT_TRUE(snapshot.complete) << snapshot.incomplete_reason;
  EXPECT_EQ(StaffMembers(snapshot), (std::set<std::string>{RawGuid(kCy)}));
  EXPECT_TRUE(Rereads().empty());
  EXPECT_EQ(directory_.paged_requests.size(), 2u);
}

// The second read failing leaves the read incomplete (no deletion follows).
TEST_F(FullReadMembersTest, AnIncompleteSecondReadLeavesTheReadIncomplete) {
  const std::string ann_moved = "CN=Ann,OU=East," + std::string(kPeople);
  Load(
      {ann_moved},
      R"({"base": ")" + std::string(kGroups) + R"(", "filter_has_guids": [")" + kStaff +
          R"("], "complete": false, "incomplete_reason": "time limit exceeded", "entries": []}, )");
  const ReadSnapshot snapshot = Read();
  EXPECT_FALSE(snapshot.complete);
  EXPECT_NE(snapshot.incomplete_reason.find("time limit exceeded"), std::string::npos)
      << snapshot.incomplete_reason;
}

}  // namespace
}  // namespace syncd::ad
