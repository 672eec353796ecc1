#include "tests/integration/aws_testbed.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace syncd::testing {

namespace json = boost::json;
namespace fs = std::filesystem;

std::string SourceDir() {
  const char* dir = std::getenv("SYNCD_SOURCE_DIR");
  return dir != nullptr ? dir : ".";
}

AwsPeer::AwsPeer(const std::string& flags) {
  int out[2];
  if (pipe(out) != 0) return;
  pid_ = fork();
  if (pid_ == 0) {
    dup2(out[1], STDOUT_FILENO);
    close(out[0]);
    close(out[1]);
    ExecChild({"sh", "-c",
               "exec python3 " + ShellQuote(SourceDir() + "/tests/aws-peer/peer.py") +
                   " --port 0 " + flags});
  }
  close(out[1]);
  FILE* stream = fdopen(out[0], "r");
  std::string line;
  for (int c = 0; stream != nullptr && (c = std::fgetc(stream)) != EOF && c != '\n';) {
    line.push_back(static_cast<char>(c));
  }
  if (stream != nullptr) (void)std::fclose(stream);
  if (!line.empty()) config_ = json::parse(line).as_object();
}

AwsPeer::~AwsPeer() {
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    int status = 0;
    waitpid(pid_, &status, 0);
  }
}

std::string AwsPeer::Str(const char* key) const { return std::string(config_.at(key).as_string()); }

CommandResult AwsPeer::Admin(const std::string& code) const {
  const std::string preamble =
      "import boto3, json, os, urllib.request\n"
      "cfg = json.loads(os.environ['AWS_PEER'])\n"
      "kw = dict(region_name=cfg['region'], endpoint_url=cfg['url'],\n"
      "          aws_access_key_id=cfg['admin_access_key_id'],\n"
      "          aws_secret_access_key=cfg['admin_secret_access_key'])\n"
      "sso = boto3.client('sso-admin', **kw)\n"
      "ids = boto3.client('identitystore', **kw)\n"
      "inst = sso.list_instances()['Instances'][0]\n"
      "arn, store, accounts = inst['InstanceArn'], inst['IdentityStoreId'], cfg['accounts']\n"
      "def control(path, body=None):\n"
      "    req = urllib.request.Request(cfg['url'] + '/_peer' + path, method='POST',\n"
      "        data=json.dumps(body or {}).encode(), headers={'Content-Type': "
      "'application/json'})\n"
      "    return json.loads(urllib.request.urlopen(req).read())\n"
      "def stats():\n"
      "    return json.loads(urllib.request.urlopen(cfg['url'] + '/_peer/stats').read())\n";
  return RunCommand("AWS_PEER=" + ShellQuote(json::serialize(config_)) + " python3 -c " +
                    ShellQuote(preamble + code));
}

namespace {

// One control API request with Python's urllib (no boto3: fast to start).
json::value PeerRequest(const std::string& url, const std::string& body) {
  const std::string code =
      "import sys, urllib.request\n"
      "url, body = sys.argv[1], sys.argv[2]\n"
      "req = urllib.request.Request(url, method='POST' if body else 'GET',\n"
      "    data=body.encode() if body else None, headers={'Content-Type': 'application/json'})\n"
      "sys.stdout.write(urllib.request.urlopen(req).read().decode())\n";
  CommandResult r =
      RunCommand("python3 -c " + ShellQuote(code) + " " + ShellQuote(url) + " " + ShellQuote(body));
  EXPECT_EQ(r.exit_code, 0) << url << ": " << r.err;
  if (r.exit_code != 0) return nullptr;
  return json::parse(r.out);
}

}  // namespace

json::value AwsPeer::Control(const std::string& path, const std::string& body) const {
  return PeerRequest(Str("url") + "/_peer" + path, body.empty() ? "{}" : body);
}

json::object AwsPeer::Stats() const {
  json::value stats = PeerRequest(Str("url") + "/_peer/stats", "");
  return stats.is_object() ? stats.as_object() : json::object();
}

AwsRun::AwsRun(const AwsPeer& peer, const std::string& ou, const std::string& aws_keys,
               const std::string& more_tables)
    : run_(OuScope(ou)) {
  const fs::path dir = fs::path(run_.config_path()).parent_path();
  const std::string token_file = dir / "scim-token";
  const std::string credentials = dir / "aws-credentials";
  std::ofstream(token_file) << peer.Str("scim_token") << "\n";
  chmod(token_file.c_str(), 0600);
  std::ofstream(credentials) << "[syncd]\naws_access_key_id = " << peer.Str("access_key_id")
                             << "\naws_secret_access_key = " << peer.Str("secret_access_key")
                             << "\n";
  chmod(credentials.c_str(), 0600);
  std::string config = run_.BaseConfig();
  const std::string local = "[store]\npath = \"" + run_.store_path() + "\"\n";
  const size_t at = config.find(local);
  EXPECT_NE(at, std::string::npos);
  config.replace(at, local.size(),
                 "[store]\nkind = \"scim\"\nurl = \"" + peer.Str("scim_url") +
                     "\"\ntoken_file = \"" + token_file +
                     "\"\nprofile = \"aws\"\nrate_limit = 1000\n");
  config += "\n[safety]\nmax_deletes = -1\nmax_delete_percent = 100\n[aws]\nregion = \"" +
            peer.Str("region") + "\"\nendpoint_url = \"" + peer.Str("url") +
            "\"\nprofile = \"syncd\"\ncredentials_file = \"" + credentials + "\"\n" + aws_keys +
            more_tables;
  WriteConfig(config);
  secret_ = peer.Str("secret_access_key");
}

CommandResult AwsRun::Syncd(const std::string& args) const {
  CommandResult r = run_.Syncd(args);
  EXPECT_EQ((r.out + r.err).find(secret_), std::string::npos) << "the secret key leaked";
  return r;
}

std::string AwsRun::dir() const { return fs::path(run_.config_path()).parent_path(); }

void AwsRun::WriteConfig(const std::string& text) {
  config_ = text;
  run_.WriteConfig(text);
}

}  // namespace syncd::testing
