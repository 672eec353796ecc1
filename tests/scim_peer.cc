#include "tests/scim_peer.h"

#include <algorithm>
#include <cstdio>

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/json/parse.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <sstream>

#include "http/client.h"

namespace syncd::testing {
namespace {

namespace json = boost::json;

std::map<std::string, std::unique_ptr<ScimPeer>>& Peers() {
  static std::map<std::string, std::unique_ptr<ScimPeer>> peers;
  return peers;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string StartScript() {
  // SYNCD_SCIM_PEER_DIR points at another checkout's peer (development).
  if (const char* dir = std::getenv("SYNCD_SCIM_PEER_DIR")) return std::string(dir) + "/start.sh";
  const char* root = std::getenv("SYNCD_SOURCE_DIR");
  return std::string(root != nullptr ? root : ".") + "/tests/scim-peer/start.sh";
}

// Stops the peers when the binary ends, whatever the tests did.
class PeerEnvironment : public ::testing::Environment {
 public:
  void TearDown() override { ScimPeer::StopAll(); }
};
const auto* const kEnvironment = ::testing::AddGlobalTestEnvironment(new PeerEnvironment);

}  // namespace

ScimPeer& ScimPeer::Get(const std::string& profile) {
  auto& slot = Peers()[profile];
  if (slot) return *slot;
  slot = std::make_unique<ScimPeer>();
  ScimPeer& peer = *slot;
  peer.profile_ = profile;
  std::random_device random;
  peer.token_ = "tok-" + std::to_string(random()) + "-" + std::to_string(random());
  char dir[] = "/tmp/syncd-scim-peer-XXXXXX";
  if (mkdtemp(dir) == nullptr) {
    ADD_FAILURE() << "mkdtemp failed";
    return peer;
  }
  peer.outfile_ = std::string(dir) + "/url";
  const std::string command = "SCIM_PEER_PROFILE=" + profile + " SCIM_TOKEN=" + peer.token_ + " " +
                              StartScript() + " " + peer.outfile_;
  if (std::system(command.c_str()) != 0) {
    ADD_FAILURE() << "could not start the SCIM peer: " << command << "\n"
                  << ReadAll(peer.outfile_ + ".log");
    return peer;
  }
  peer.url_ = ReadAll(peer.outfile_);
  while (!peer.url_.empty() && (peer.url_.back() == '\n' || peer.url_.back() == '\r')) {
    peer.url_.pop_back();
  }
  return peer;
}

void ScimPeer::StopAll() {
  for (auto& [profile, peer] : Peers()) {
    if (!peer || peer->outfile_.empty()) continue;
    const std::string pid = ReadAll(peer->outfile_ + ".pid");
    if (!pid.empty()) kill(static_cast<pid_t>(std::stol(pid)), SIGTERM);
    std::error_code ec;
    std::filesystem::remove_all(std::filesystem::path(peer->outfile_).parent_path(), ec);
  }
  Peers().clear();
}

StoreConfig ScimPeer::Config(const std::string& token_file) const {
  {
    std::ofstream out(token_file);
    out << token_ << "\n";
  }
  chmod(token_file.c_str(), 0600);
  StoreConfig config;
  config.kind = "scim";
  config.url = url_;
  config.token_file = token_file;
  config.profile = profile_ == "aws" ? "aws" : "generic";
  return config;
}

json::value ScimPeer::Control(const std::string& method, const std::string& path,
                              const std::string& body) {
  boost::asio::io_context loop;
  auto client = http::Client::Create(loop.get_executor(), {});
  if (!client.ok()) {
    ADD_FAILURE() << client.status().ToString();
    return nullptr;
  }
  const std::string base = url_.substr(0, url_.rfind("/scim/v2"));
  http::Request request{method, base + "/_control" + path, {}, body};
  if (!body.empty()) request.headers.push_back({"Content-Type", "application/json"});
  auto response = RunOn(loop, (*client)->Send(std::move(request)));
  if (!response.ok()) {
    ADD_FAILURE() << method << " " << path << ": " << response.status().ToString();
    return nullptr;
  }
  if (response->status >= 300) {
    ADD_FAILURE() << method << " " << path << ": HTTP " << response->status << " "
                  << response->body;
    return nullptr;
  }
  if (response->body.empty()) return nullptr;
  boost::system::error_code ec;
  json::value parsed = json::parse(response->body, ec);
  if (ec) ADD_FAILURE() << method << " " << path << ": not JSON: " << response->body;
  return parsed;
}

json::object ScimPeer::Stats() {
  json::value v = Control("GET", "/stats");
  return v.is_object() ? v.as_object() : json::object{};
}

json::object ScimPeer::Dump() {
  json::value v = Control("GET", "/dump");
  return v.is_object() ? v.as_object() : json::object{};
}

int64_t ScimPeer::Requests(const std::string& route) {
  json::object stats = Stats();
  const json::value* by_route = stats.if_contains("by_route");
  if (by_route == nullptr || !by_route->is_object()) return 0;
  const json::value* n = by_route->as_object().if_contains(route);
  return n != nullptr && n->is_int64() ? n->as_int64() : 0;
}

std::string TestGuid(int n) {
  const std::string digits = std::to_string(n);
  return "00000000-0000-4000-8000-" + std::string(12 - std::min<size_t>(12, digits.size()), '0') +
         digits;
}

SyncObject TestUser(int n, const std::string& name) {
  SyncObject o;
  o.kind = ObjectKind::kUser;
  o.guid = "guid-" + std::to_string(n);
  o.external_id = TestGuid(n);
  o.name = name;
  o.attributes = {{"userName", name},
                  {"displayName", "User " + name},
                  {"givenName", "Given" + name},
                  {"familyName", "Family" + name},
                  {"email", name + "@example.com"},
                  {"active", "true"}};
  return o;
}

SyncObject TestGroup(int n, const std::string& name) {
  SyncObject o;
  o.kind = ObjectKind::kGroup;
  o.guid = "guid-" + std::to_string(n);
  o.external_id = TestGuid(n);
  o.name = name;
  o.attributes = {{"displayName", name}};
  return o;
}

}  // namespace syncd::testing
