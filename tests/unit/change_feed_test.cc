// The change feeds against replayed server answers: what Samba cannot show
// (DirSync over several pages, rejected cookies, Windows' refusals) and the
// exact requests each feed sends.
#include "ldap/change_feed.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "ldap/codec.h"
#include "tests/unit/replay_directory.h"
#include "tests/unit/test_util.h"

namespace syncd::ldap {
namespace {

using testing::Base64Decode;
using testing::RawGuid;
using testing::ReplayDirectory;
using testing::RunAwaitable;

boost::json::object Recording(const std::string& name) {
  return boost::json::parse(testing::ReadTestData(name)).as_object();
}

// The GUIDs of tests/data/dirsync_windows_paged.json.
const std::string kAlice = RawGuid("5c1f0b7a-3e52-4d8b-9a11-0a1ce0000001");
const std::string kBob = RawGuid("5c1f0b7a-3e52-4d8b-9a11-0b0b00000002");
const std::string kCarol = RawGuid("5c1f0b7a-3e52-4d8b-9a11-0ca401000003");
const std::string kDave = RawGuid("5c1f0b7a-3e52-4d8b-9a11-0da7e0000004");
const std::string kEve = RawGuid("5c1f0b7a-3e52-4d8b-9a11-0e7e00000005");
const std::string kHidden = RawGuid("5c1f0b7a-3e52-4d8b-9a11-0f0f00000006");
const std::string kFrank = RawGuid("5c1f0b7a-3e52-4d8b-9a11-0f4a00000007");
const std::string kStaff = RawGuid("7a9d2c40-81e3-4f6a-b2c5-5aff00000010");
const std::string kLegacy = RawGuid("7a9d2c40-81e3-4f6a-b2c5-1e9ac0000011");
const std::string kTemp = RawGuid("7a9d2c40-81e3-4f6a-b2c5-7e3900000012");
const std::string kSalesOu = RawGuid("9e0b44d1-27c8-4b3f-8d6e-5a1e50000020");

class PagedDirSyncTest : public ::testing::Test {
 protected:
  void SetUp() override {
    recording_ = Recording("dirsync_windows_paged.json");
    ASSERT_FALSE(recording_.empty());
    directory_.Load(recording_);
    ASSERT_EQ(directory_.dirsync_rounds.size(), 3u);
    options_.naming_context = std::string(recording_.at("naming_context").as_string());
    options_.cookie = *directory_.dirsync_rounds[0].expect_cookie;
    options_.attributes = {"displayName", "member", "sAMAccountName"};
  }

  DirSyncResult Read() {
    auto result = RunAwaitable(ReadDirSync(directory_, options_));
    EXPECT_TRUE(result.ok()) << result.status().ToString();
    return result.ok() ? std::move(result).value() : DirSyncResult{};
  }

  boost::json::object recording_;
  ReplayDirectory directory_;
  DirSyncOptions options_;
};

TEST_F(PagedDirSyncTest, LoopsWhileMoreAndSendsEachPagesCookieBack) {
  DirSyncResult result = Read();
  EXPECT_EQ(result.refusal, FeedRefusal::kNone);
  ASSERT_EQ(directory_.dirsync_requests.size(), 3u) << "one request per recorded round, no more";
  EXPECT_EQ(directory_.SentCookies(),
            (std::vector<std::string>{options_.cookie, directory_.dirsync_rounds[0].page.cookie,
                                      directory_.dirsync_rounds[1].page.cookie}));
  // The three cookies differ: each round really moves on.
  const std::vector<std::string> sent = directory_.SentCookies();
  EXPECT_EQ(std::set<std::string>(sent.begin(), sent.end()).size(), 3u);
  EXPECT_EQ(result.changes.cookie, Base64Decode(recording_.at("final_cookie").as_string()));
  EXPECT_EQ(result.changes.cookie, directory_.dirsync_rounds[2].page.cookie);
  EXPECT_EQ(result.changes.rounds, 3);
  EXPECT_EQ(result.changes.entries, 12u);
}

TEST_F(PagedDirSyncTest, EveryRoundAsksTheSameQuestion) {
  Read();
  ASSERT_EQ(directory_.dirsync_requests.size(), 3u);
  for (const auto& request : directory_.dirsync_requests) {
    EXPECT_EQ(request.naming_context, options_.naming_context);
    EXPECT_EQ(request.filter, directory_.dirsync_requests[0].filter);
    EXPECT_EQ(request.flags, directory_.dirsync_requests[0].flags);
    EXPECT_EQ(request.attributes, directory_.dirsync_requests[0].attributes);
  }
}

TEST_F(PagedDirSyncTest, MergesPagesIntoChangedAndDeleted) {
  DirSyncResult result = Read();
  EXPECT_EQ(result.changes.changed,
            (std::set<std::string>{kAlice, kFrank, kStaff, kLegacy, kSalesOu}));
  EXPECT_EQ(result.changes.deleted, (std::set<std::string>{kEve, kHidden, kTemp}));
}

TEST_F(PagedDirSyncTest, PrivilegedTombstoneIsDeleted) {
  DirSyncResult result = Read();
  EXPECT_TRUE(result.changes.deleted.contains(kEve));
  EXPECT_FALSE(result.changes.changed.contains(kEve));
}

TEST_F(PagedDirSyncTest, ObjectSecurityTombstoneWithEmptyDnIsDeleted) {
  DirSyncResult result = Read();
  EXPECT_TRUE(result.changes.deleted.contains(kHidden));
  EXPECT_FALSE(result.changes.changed.contains(kHidden));
}

TEST_F(PagedDirSyncTest, ObjectDeletedThenReanimatedIsChanged) {
  DirSyncResult result = Read();
  EXPECT_TRUE(result.changes.changed.contains(kFrank));
  EXPECT_FALSE(result.changes.deleted.contains(kFrank));
}

TEST_F(PagedDirSyncTest, ClearedIsDeletedMeansReanimatedNotDeleted) {
  // Round 2 brings Frank back with isDeleted present and empty (cleared).
  const Entry& frank = directory_.dirsync_rounds[1].entries[0];
  ASSERT_EQ(frank.First("objectguid"), kFrank);
  ASSERT_NE(frank.Find("isdeleted"), nullptr);
  ASSERT_TRUE(frank.Find("isdeleted")->empty());
  ChangeSet changes;
  changes.Absorb(frank);
  EXPECT_EQ(changes.changed, std::set<std::string>{kFrank});
  EXPECT_TRUE(changes.deleted.empty());
}

TEST_F(PagedDirSyncTest, NameMarksCreatesMovesAndRenamesOnly) {
  DirSyncResult result = Read();
  // Alice was created (every attribute, `name` included), Frank came back
  // under his old parent, Sales was renamed; Staff and Legacy Apps only
  // changed values, and Alice's later displayName change does not undo hers.
  EXPECT_EQ(result.changes.renamed, (std::set<std::string>{kAlice, kFrank, kSalesOu}));
}

TEST_F(PagedDirSyncTest, DeletedObjectsAreNotRenamed) {
  DirSyncResult result = Read();
  for (const auto& guid : result.changes.deleted) {
    EXPECT_FALSE(result.changes.renamed.contains(guid));
  }
}

TEST_F(PagedDirSyncTest, GroupChangedThenDeletedKeepsNoMemberDelta) {
  DirSyncResult result = Read();
  EXPECT_TRUE(result.changes.deleted.contains(kTemp));
  EXPECT_FALSE(result.changes.changed.contains(kTemp));
  EXPECT_FALSE(result.changes.members.contains(kTemp));
}

TEST_F(PagedDirSyncTest, LaterPagesOverrideEarlierMemberDeltas) {
  DirSyncResult result = Read();
  ASSERT_TRUE(result.changes.members.contains(kStaff));
  const MemberDelta& staff = result.changes.members.at(kStaff);
  // Round 1: +Bob +Carol -Dave; round 3: +Dave -Carol.
  EXPECT_EQ(staff.added, (std::set<std::string>{kBob, kDave}));
  EXPECT_EQ(staff.removed, (std::set<std::string>{kCarol}));
  EXPECT_FALSE(staff.reread);
}

TEST_F(PagedDirSyncTest, MemberValueWithoutGuidAsksForAReread) {
  DirSyncResult result = Read();
  ASSERT_TRUE(result.changes.members.contains(kLegacy));
  const MemberDelta& legacy = result.changes.members.at(kLegacy);
  EXPECT_TRUE(legacy.reread);
  EXPECT_EQ(legacy.added, (std::set<std::string>{kAlice}));  // the value with a GUID still counts
}

TEST_F(PagedDirSyncTest, UsersAndContainersCarryNoMemberDelta) {
  DirSyncResult result = Read();
  EXPECT_EQ(result.changes.members.size(), 2u);  // Staff and Legacy Apps only
  EXPECT_FALSE(result.changes.members.contains(kAlice));
  EXPECT_FALSE(result.changes.members.contains(kSalesOu));
}

TEST_F(PagedDirSyncTest, LostConnectionMidwayIsAnErrorNotARefusal) {
  directory_.dirsync_rounds[1].error = Status::Unavailable("ldaps://dc1: connection reset");
  auto result = RunAwaitable(ReadDirSync(directory_, options_));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), Status::Code::kUnavailable);
  EXPECT_EQ(directory_.dirsync_requests.size(), 2u);
}

TEST_F(PagedDirSyncTest, MoreWithTheSameCookieIsAnErrorNotALoop) {
  // Round 2 claims more follow but hands back the cookie it was given.
  directory_.dirsync_rounds[1].page.cookie = directory_.dirsync_rounds[0].page.cookie;
  auto result = RunAwaitable(ReadDirSync(directory_, options_));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), Status::Code::kDataLoss);
  EXPECT_EQ(directory_.dirsync_requests.size(), 2u);
}

TEST(DirSync, MoreWithNoCookieOnTheFirstCallIsAnError) {
  ReplayDirectory directory;
  ReplayDirectory::DirSyncRound round;
  round.page.more = true;  // and an empty cookie: the same as the (empty) one sent
  directory.dirsync_rounds = {round, round};
  DirSyncOptions options;
  options.naming_context = "DC=corp,DC=example,DC=com";
  auto result = RunAwaitable(ReadDirSync(directory, options));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), Status::Code::kDataLoss);
  EXPECT_EQ(directory.dirsync_requests.size(), 1u);
}

// --- The request ---

DirSyncRequest FirstRequest(bool object_security,
                            std::vector<std::string> attributes = {"displayName"}) {
  ReplayDirectory directory;
  ReplayDirectory::DirSyncRound round;
  round.page.cookie = "next";
  directory.dirsync_rounds = {round};
  DirSyncOptions options;
  options.naming_context = "DC=corp,DC=example,DC=com";
  options.object_security = object_security;
  options.attributes = std::move(attributes);
  options.cookie = "stored";
  auto result = RunAwaitable(ReadDirSync(directory, options));
  EXPECT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(directory.dirsync_requests.size(), 1u);
  return directory.dirsync_requests.empty() ? DirSyncRequest{} : directory.dirsync_requests[0];
}

TEST(DirSyncRequestFlags, IncrementalValuesAndAncestorsFirstWithoutObjectSecurity) {
  EXPECT_EQ(FirstRequest(false).flags, 0x80000000u | 0x800u);
}

TEST(DirSyncRequestFlags, ObjectSecurityAddsOnlyItsBit) {
  EXPECT_EQ(FirstRequest(true).flags, 0x80000000u | 0x800u | 0x1u);
}

TEST(DirSyncRequestFilter, IncludesTombstonesAndEveryClassThatMatters) {
  const DirSyncRequest request = FirstRequest(false);
  EXPECT_EQ(request.filter, DirSyncFilter());
  EXPECT_NE(request.filter.find("(isDeleted=TRUE)"), std::string::npos) << request.filter;
  for (const char* cls : {"user", "group", "organizationalUnit", "container"}) {
    EXPECT_NE(request.filter.find(std::string("(objectClass=") + cls + ")"), std::string::npos)
        << cls;
  }
  EXPECT_EQ(request.naming_context, "DC=corp,DC=example,DC=com");
  EXPECT_EQ(request.cookie, "stored");
}

TEST(DirSyncRequestAttributes, KeysAddedBacklinksAndConstructedDropped) {
  const DirSyncRequest request =
      FirstRequest(false, {"displayName", "memberOf", "cn", "uSNChanged", "OBJECTGUID", "member"});
  std::set<std::string> lower;
  for (const auto& a : request.attributes) {
    EXPECT_TRUE(lower.insert(AsciiLower(a)).second) << "asked twice: " << a;
  }
  for (const char* wanted :
       {"objectguid", "objectclass", "isdeleted", "name", "displayname", "member"}) {
    EXPECT_TRUE(lower.contains(wanted)) << wanted;
  }
  for (const char* dropped : {"memberof", "cn", "usnchanged"}) {
    EXPECT_FALSE(lower.contains(dropped)) << dropped;
  }
}

TEST(DirSyncSnapshot, StartsFromNothingAndMatchesNoObject) {
  ReplayDirectory directory;
  ReplayDirectory::DirSyncRound round;
  round.expect_cookie = "";
  round.page.cookie = "now";
  directory.dirsync_rounds = {round};
  DirSyncOptions options;
  options.naming_context = "DC=corp,DC=example,DC=com";
  options.cookie = "an old cookie the snapshot must not send";
  auto result = RunAwaitable(DirSyncSnapshot(directory, options));
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(result->refusal, FeedRefusal::kNone);
  EXPECT_EQ(result->changes.cookie, "now");
  EXPECT_TRUE(result->changes.empty());
  ASSERT_EQ(directory.dirsync_requests.size(), 1u);
  EXPECT_EQ(directory.dirsync_requests[0].filter,
            "(objectGUID=" + EscapeFilterBytes(std::string(16, '\0')) + ")");
}

// --- Refusals ---

class DirSyncRefusalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    recording_ = Recording("dirsync_refusals.json");
    ASSERT_FALSE(recording_.empty());
    cookie_ = Base64Decode(recording_.at("cookie").as_string());
  }

  // Replays one recorded refusal, optionally after a good first round that
  // brought entries (so that a refusal is seen to discard them).
  Result<DirSyncResult> Refused(const std::string& reply, bool with_cookie,
                                bool after_a_good_round = false) {
    const auto& r = recording_.at("replies").as_object().at(reply).as_object();
    directory_ = ReplayDirectory();
    if (after_a_good_round) {
      ReplayDirectory::DirSyncRound good;
      good.page.more = true;
      good.page.cookie = "page-1";
      Entry alice;
      alice.dn = "CN=Alice Smith,OU=People,DC=corp,DC=example,DC=com";
      alice.attributes["objectguid"] = {kAlice};
      good.entries = {alice};
      directory_.dirsync_rounds.push_back(good);
    }
    ReplayDirectory::DirSyncRound refusal;
    refusal.page.result_code = static_cast<int>(r.at("result_code").as_int64());
    refusal.page.diagnostic = std::string(r.at("diagnostic").as_string());
    directory_.dirsync_rounds.push_back(refusal);
    DirSyncOptions options;
    options.naming_context = "DC=corp,DC=example,DC=com";
    options.cookie = with_cookie ? cookie_ : "";
    return RunAwaitable(ReadDirSync(directory_, options));
  }

  void ExpectCookieRejected(const std::string& reply) {
    SCOPED_TRACE(reply);
    auto result = Refused(reply, /*with_cookie=*/true);
    ASSERT_TRUE(result.ok()) << result.status().ToString();
    EXPECT_EQ(result->refusal, FeedRefusal::kCookieRejected);
    EXPECT_TRUE(result->changes.empty());
    EXPECT_TRUE(result->changes.cookie.empty()) << "a rejected cookie must not be replaced";
    EXPECT_EQ(result->diagnostic,
              std::string(recording_.at("replies").at(reply).at("diagnostic").as_string()));
    EXPECT_EQ(directory_.dirsync_requests.size(), 1u);
  }

  boost::json::object recording_;
  std::string cookie_;
  ReplayDirectory directory_;
};

TEST_F(DirSyncRefusalTest, SambaUnavailableCriticalExtensionRejectsTheCookie) {
  ExpectCookieRejected("samba_unparseable_cookie");
}

TEST_F(DirSyncRefusalTest, WindowsUnwillingToPerformRejectsTheCookie) {
  ExpectCookieRejected("windows_unwilling");
}

TEST_F(DirSyncRefusalTest, WindowsProtocolErrorRejectsTheCookie) {
  ExpectCookieRejected("windows_protocol_error");
}

TEST_F(DirSyncRefusalTest, ErrorProcessingControlTextRejectsTheCookieWhateverTheCode) {
  ExpectCookieRejected("windows_operations_error");
}

TEST_F(DirSyncRefusalTest, RejectionInALaterRoundDiscardsWhatEarlierRoundsBrought) {
  auto result = Refused("windows_unwilling", /*with_cookie=*/true, /*after_a_good_round=*/true);
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(result->refusal, FeedRefusal::kCookieRejected);
  EXPECT_TRUE(result->changes.empty());
  EXPECT_TRUE(result->changes.cookie.empty());
  EXPECT_EQ(directory_.SentCookies(), (std::vector<std::string>{cookie_, "page-1"}));
}

TEST_F(DirSyncRefusalTest, InsufficientAccessIsNoRight) {
  for (bool with_cookie : {true, false}) {
    SCOPED_TRACE(with_cookie);
    auto result = Refused("windows_no_replication_right", with_cookie);
    ASSERT_TRUE(result.ok()) << result.status().ToString();
    EXPECT_EQ(result->refusal, FeedRefusal::kNoRight);
    EXPECT_TRUE(result->changes.empty());
    EXPECT_NE(result->diagnostic.find("INSUFF_ACCESS_RIGHTS"), std::string::npos);
  }
}

TEST_F(DirSyncRefusalTest, WithoutACookieThereIsNothingToRejectSoItIsAnError) {
  for (const char* reply : {"samba_unparseable_cookie", "windows_unwilling"}) {
    SCOPED_TRACE(reply);
    auto result = Refused(reply, /*with_cookie=*/false);
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.status().code(), Status::Code::kUnavailable);
    EXPECT_NE(result.status().message().find(
                  std::string(recording_.at("replies").at(reply).at("diagnostic").as_string())),
              std::string::npos)
        << result.status().message();
  }
}

TEST_F(DirSyncRefusalTest, OtherFailuresAreErrorsNotRefusals) {
  auto result = Refused("busy", /*with_cookie=*/true);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), Status::Code::kUnavailable);
  EXPECT_NE(result.status().message().find("BUSY"), std::string::npos);
}

// --- ChangeSet::Absorb, entry by entry ---

Entry Live(const std::string& guid) {
  Entry e;
  e.dn = "CN=x,DC=corp";
  e.attributes["objectguid"] = {guid};
  return e;
}

std::string MemberValue(const std::string& guid, const std::string& cn) {
  return "<GUID=" + GuidToString(guid).value_or("") + ">;CN=" + cn + ",DC=corp";
}

TEST(ChangeSetAbsorb, EntryWithoutAValidGuidIsIgnored) {
  ChangeSet changes;
  Entry e = Live("short");
  changes.Absorb(e);
  e.attributes.erase("objectguid");
  changes.Absorb(e);
  EXPECT_TRUE(changes.empty());
}

TEST(ChangeSetAbsorb, PlainMemberReplacingTheListAsksForAReread) {
  ChangeSet changes;
  Entry e = Live(kStaff);
  e.attributes["member"] = {MemberValue(kBob, "Bob")};
  changes.Absorb(e);
  ASSERT_TRUE(changes.members.contains(kStaff));
  EXPECT_TRUE(changes.members.at(kStaff).reread);
}

TEST(ChangeSetAbsorb, OtherRangedMemberAsksForAReread) {
  ChangeSet changes;
  Entry e = Live(kStaff);
  e.attributes["member;range=0-1499"] = {MemberValue(kBob, "Bob")};
  changes.Absorb(e);
  ASSERT_TRUE(changes.members.contains(kStaff));
  EXPECT_TRUE(changes.members.at(kStaff).reread);
}

TEST(ChangeSetAbsorb, IsDeletedComparesCaseInsensitively) {
  ChangeSet changes;
  Entry e = Live(kEve);
  e.attributes["isdeleted"] = {"true"};
  changes.Absorb(e);
  EXPECT_TRUE(changes.deleted.contains(kEve));
}

// --- uSNChanged ---

Entry GuidOnly(const std::string& guid) {
  Entry e;
  e.dn = "CN=x,DC=corp,DC=example,DC=com";
  e.attributes["objectguid"] = {guid};
  return e;
}

class UsnChangesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ReplayDirectory::PagedAnswer live;
    live.base = kNc;
    live.filter_has = {"(uSNChanged>=12346)", "(objectClass=organizationalUnit)"};
    live.entries = {GuidOnly(kAlice), GuidOnly(kStaff), GuidOnly(kFrank)};
    ReplayDirectory::PagedAnswer tombstones;
    tombstones.base = kNc;
    tombstones.filter_has = {"(uSNChanged>=12346)", "(isDeleted=TRUE)"};
    tombstones.entries = {GuidOnly(kEve), GuidOnly(kFrank)};
    // Frank changed and was then deleted: both searches see him.
    directory_.paged_answers = {tombstones, live};
  }

  const std::string kNc = "DC=corp,DC=example,DC=com";
  ReplayDirectory directory_;
};

TEST_F(UsnChangesTest, AsksForEverythingAboveTheWatermarkAcrossThePartition) {
  auto result = RunAwaitable(ReadUsnChanges(directory_, kNc, 12345, 250));
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  ASSERT_EQ(directory_.paged_requests.size(), 2u);
  EXPECT_TRUE(directory_.unmatched_paged.empty());
  for (const auto& request : directory_.paged_requests) {
    EXPECT_EQ(request.base, kNc);
    EXPECT_EQ(request.scope, Scope::kSubtree);
    EXPECT_EQ(request.page_size, 250);
    EXPECT_NE(request.filter.find("(uSNChanged>=12346)"), std::string::npos) << request.filter;
    EXPECT_EQ(request.filter.find("12345"), std::string::npos) << "LDAP has no strict >";
  }
  const auto& live = directory_.paged_requests[0];
  const auto& tombstones = directory_.paged_requests[1];
  EXPECT_FALSE(live.show_deleted);
  EXPECT_EQ(live.filter.find("isDeleted"), std::string::npos) << live.filter;
  EXPECT_TRUE(tombstones.show_deleted);
  EXPECT_NE(tombstones.filter.find("(isDeleted=TRUE)"), std::string::npos) << tombstones.filter;
  EXPECT_EQ(result->rounds, 2);
  EXPECT_EQ(result->entries, 5u);
}

TEST_F(UsnChangesTest, TombstonesAreDeletedAndNotChanged) {
  auto result = RunAwaitable(ReadUsnChanges(directory_, kNc, 12345, 250));
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(result->changed, (std::set<std::string>{kAlice, kStaff}));
  EXPECT_EQ(result->deleted, (std::set<std::string>{kEve, kFrank}));
  EXPECT_TRUE(result->members.empty()) << "uSNChanged has no value deltas";
  EXPECT_EQ(result->renamed, result->changed) << "uSNChanged cannot tell a rename from a change";
  EXPECT_TRUE(result->cookie.empty());
}

TEST_F(UsnChangesTest, IncompleteLiveSearchIsAnError) {
  directory_.paged_answers[1].complete = false;
  directory_.paged_answers[1].incomplete_reason = "sizeLimitExceeded";
  auto result = RunAwaitable(ReadUsnChanges(directory_, kNc, 12345, 250));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), Status::Code::kUnavailable);
  EXPECT_NE(result.status().message().find("sizeLimitExceeded"), std::string::npos)
      << result.status().message();
}

TEST_F(UsnChangesTest, IncompleteTombstoneSearchIsAnError) {
  directory_.paged_answers[0].complete = false;
  directory_.paged_answers[0].incomplete_reason = "timeLimitExceeded";
  auto result = RunAwaitable(ReadUsnChanges(directory_, kNc, 12345, 250));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), Status::Code::kUnavailable);
}

TEST_F(UsnChangesTest, FailedSearchIsAnError) {
  directory_.paged_answers[0].error = Status::Unavailable("connection reset");
  auto result = RunAwaitable(ReadUsnChanges(directory_, kNc, 12345, 250));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), Status::Code::kUnavailable);
}

// --- The DC's identity ---

class DcIdentityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    directory_.Load(Recording("dc_identity_windows.json"));
    ASSERT_EQ(directory_.search_answers.size(), 4u);
  }
  ReplayDirectory::SearchAnswer& RootDse() { return directory_.search_answers[0]; }
  ReplayDirectory::SearchAnswer& NtdsSettings() { return directory_.search_answers[1]; }
  ReplayDirectory::SearchAnswer& DirectoryService() { return directory_.search_answers[2]; }

  ReplayDirectory directory_;
};

TEST_F(DcIdentityTest, ReadsRootDseInvocationIdAndTombstoneLifetime) {
  auto id = RunAwaitable(ReadDcIdentity(directory_));
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  EXPECT_EQ(id->host, "dc1.corp.example.com");
  EXPECT_EQ(id->dsa_dn,
            "CN=NTDS Settings,CN=DC1,CN=Servers,CN=Default-First-Site-Name,CN=Sites,"
            "CN=Configuration,DC=corp,DC=example,DC=com");
  EXPECT_EQ(id->invocation_id, RawGuid("3f2a9c1e-6b7d-4e88-a0c4-1d5e9b2f7a60"));
  EXPECT_EQ(id->naming_context, "DC=corp,DC=example,DC=com");
  EXPECT_EQ(ldap::SidToString(id->domain_sid), "S-1-5-21-3623811015-3361044348-30300820");
  EXPECT_EQ(id->highest_usn, 29120);
  EXPECT_EQ(id->tombstone_lifetime_days, 60);

  ASSERT_EQ(directory_.search_requests.size(), 4u);
  const SearchRequest& root = directory_.search_requests[0];
  EXPECT_EQ(root.base, "");
  EXPECT_EQ(root.scope, Scope::kBase);
  EXPECT_FALSE(root.extended_dn);
  EXPECT_EQ(directory_.search_requests[1].base, id->dsa_dn);
  EXPECT_EQ(directory_.search_requests[1].scope, Scope::kBase);
  EXPECT_EQ(directory_.search_requests[2].base, id->naming_context);
  EXPECT_EQ(directory_.search_requests[2].attributes, std::vector<std::string>{"objectSid"});
  EXPECT_EQ(directory_.search_requests[2].scope, Scope::kBase);
}

TEST_F(DcIdentityTest, AbsentTombstoneLifetimeMeans180Days) {
  DirectoryService().entries[0].attributes.erase("tombstonelifetime");
  auto id = RunAwaitable(ReadDcIdentity(directory_));
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  EXPECT_EQ(id->tombstone_lifetime_days, 180);
}

TEST_F(DcIdentityTest, MissingDirectoryServiceObjectMeans180Days) {
  DirectoryService().error = Status::NotFound("no such object");
  auto id = RunAwaitable(ReadDcIdentity(directory_));
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  EXPECT_EQ(id->tombstone_lifetime_days, 180);
}

TEST_F(DcIdentityTest, UnreadableDirectoryServiceObjectIsAnError) {
  DirectoryService().error = Status::Unavailable("connection reset");
  auto id = RunAwaitable(ReadDcIdentity(directory_));
  ASSERT_FALSE(id.ok());
  EXPECT_EQ(id.status().code(), Status::Code::kUnavailable);
}

TEST_F(DcIdentityTest, RootDseWithoutHighestCommittedUsnIsDataLoss) {
  RootDse().entries[0].attributes.erase("highestcommittedusn");
  auto id = RunAwaitable(ReadDcIdentity(directory_));
  ASSERT_FALSE(id.ok());
  EXPECT_EQ(id.status().code(), Status::Code::kDataLoss);
}

TEST_F(DcIdentityTest, NonNumericHighestCommittedUsnIsDataLoss) {
  RootDse().entries[0].attributes["highestcommittedusn"] = {"29120x"};
  auto id = RunAwaitable(ReadDcIdentity(directory_));
  ASSERT_FALSE(id.ok());
  EXPECT_EQ(id.status().code(), Status::Code::kDataLoss);
}

TEST_F(DcIdentityTest, MissingInvocationIdIsDataLoss) {
  NtdsSettings().entries[0].attributes.erase("invocationid");
  auto id = RunAwaitable(ReadDcIdentity(directory_));
  ASSERT_FALSE(id.ok());
  EXPECT_EQ(id.status().code(), Status::Code::kDataLoss);
  EXPECT_NE(id.status().message().find("invocationId"), std::string::npos);
}

}  // namespace
}  // namespace syncd::ldap
