#include "ldap/dirsync_control.h"

#include <gtest/gtest.h>
#include <ldap.h>

#include <string>

namespace syncd::ldap {
namespace {

// A handle for libldap's error state; it never connects.
class DirSyncControlTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(ldap_initialize(&ld_, "ldap://127.0.0.1"), LDAP_SUCCESS); }
  void TearDown() override { ldap_unbind_ext_s(ld_, nullptr, nullptr); }

  Result<DirSyncControl> Parse(const std::string& value) {
    LDAPControl control{};
    control.ldctl_oid = const_cast<char*>(LDAP_CONTROL_X_DIRSYNC);
    control.ldctl_value.bv_len = value.size();
    control.ldctl_value.bv_val = value.empty() ? nullptr : const_cast<char*>(value.data());
    LDAPControl* controls[] = {&control, nullptr};
    return ParseDirSyncControl(ld_, controls);
  }

  LDAP* ld_ = nullptr;
};

// SEQUENCE { INTEGER more, INTEGER 0, OCTET STRING cookie }, short lengths.
std::string ControlValue(bool more, const std::string& cookie) {
  std::string body = std::string("\x02\x01", 2) + (more ? '\x01' : '\x00') +
                     std::string("\x02\x01\x00", 3) + '\x04' + static_cast<char>(cookie.size()) +
                     cookie;
  return '\x30' + std::string(1, static_cast<char>(body.size())) + body;
}

TEST_F(DirSyncControlTest, DecodesMoreAndCookie) {
  const std::string cookie(
      "MSDS\x03\x00\x00\x00"
      "cookie",
      14);
  auto parsed = Parse(ControlValue(true, cookie));
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_TRUE(parsed->more);
  EXPECT_EQ(parsed->cookie, cookie);
  parsed = Parse(ControlValue(false, ""));
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_FALSE(parsed->more);
  EXPECT_EQ(parsed->cookie, "");
}

TEST_F(DirSyncControlTest, MissingOrTruncatedControlIsDataLoss) {
  LDAPControl* none[] = {nullptr};
  EXPECT_EQ(ParseDirSyncControl(ld_, none).status().code(), Status::Code::kDataLoss);
  EXPECT_EQ(ParseDirSyncControl(ld_, nullptr).status().code(), Status::Code::kDataLoss);
  const std::string value = ControlValue(true, "cookie");
  auto parsed = Parse(value.substr(0, value.size() - 3));
  EXPECT_EQ(parsed.status().code(), Status::Code::kDataLoss);
}

// Found by fuzz/fuzz_dirsync_control.cc: a DirSync response control without
// a value made libldap dereference a null buffer (SIGSEGV).
TEST_F(DirSyncControlTest, EmptyValueIsDataLossNotACrash) {
  auto parsed = Parse("");
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.status().code(), Status::Code::kDataLoss);
  EXPECT_EQ(parsed.status().message(), "the server's DirSync control has no value");
}

}  // namespace
}  // namespace syncd::ldap
