// http::Client against real local servers: a Beast HTTP/1.1 server (plain and
// TLS with a CA made by openssl at test time), a CONNECT proxy, and servers
// that misbehave (never answer, close mid-answer, refuse).
#include "http/client.h"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/ssl/impl/src.hpp>  // Asio is compiled separately; its TLS part only here
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/strings.h"
#include "tests/unit/test_util.h"

namespace syncd::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
using asio::ip::tcp;
using namespace std::chrono_literals;                     // NOLINT(google-build-using-namespace)
using namespace asio::experimental::awaitable_operators;  // NOLINT(google-build-using-namespace)
constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);

// A loopback server on its own thread and io_context. Paths:
//   /echo          200; body = request body; x-method and x-got-<name> for
//                  each request header; two set-cookie headers
//   /status/N      status N, "Retry-After: 7" with it
//   /slow          200 "slow" after 50 ms
//   /hang          reads the request, never answers
//   /truncate      promises 100 bytes, sends 5, closes
class TestServer {
 public:
  explicit TestServer(asio::ssl::context* tls = nullptr)
      : acceptor_(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)), tls_(tls) {
    asio::co_spawn(io_, Accept(), asio::detached);
    thread_ = std::thread([this] { io_.run(); });
  }
  ~TestServer() {
    io_.stop();
    thread_.join();
  }
  TestServer(const TestServer&) = delete;
  TestServer& operator=(const TestServer&) = delete;

  unsigned short port() const { return acceptor_.local_endpoint().port(); }
  std::string Url(const std::string& path, const std::string& host = "127.0.0.1") const {
    return std::string(tls_ != nullptr ? "https" : "http") + "://" + host + ":" +
           std::to_string(port()) + path;
  }
  int connections() const { return connections_; }

 private:
  asio::awaitable<void> Accept() {
    for (;;) {
      auto [ec, socket] = co_await acceptor_.async_accept(kNoThrow);
      if (ec) co_return;
      ++connections_;
      if (tls_ != nullptr) {
        asio::co_spawn(io_, ServeTls(std::move(socket)), asio::detached);
      } else {
        asio::co_spawn(io_, Serve(std::move(socket)), asio::detached);
      }
    }
  }

  asio::awaitable<void> ServeTls(tcp::socket socket) {
    asio::ssl::stream<tcp::socket> stream(std::move(socket), *tls_);
    auto [ec] = co_await stream.async_handshake(asio::ssl::stream_base::server, kNoThrow);
    if (ec) co_return;  // e.g. the client refused our certificate
    co_await Serve(std::move(stream));
  }

  template <typename Stream>
  asio::awaitable<void> Serve(Stream stream) {
    beast::flat_buffer buffer;
    for (;;) {
      beast::http::request_parser<beast::http::string_body> parser;
      parser.body_limit(16 << 20);
      auto [ec, n] = co_await beast::http::async_read(stream, buffer, parser, kNoThrow);
      if (ec) co_return;
      beast::http::request<beast::http::string_body> request = parser.release();
      std::string target(request.target());
      beast::http::response<beast::http::string_body> response{beast::http::status::ok,
                                                               request.version()};
      if (target == "/hang") {
        asio::steady_timer forever(io_, 1h);
        co_await forever.async_wait(kNoThrow);
        co_return;
      }
      if (target == "/truncate") {
        std::string partial = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort";
        co_await asio::async_write(stream, asio::buffer(partial), kNoThrow);
        beast::get_lowest_layer(stream).close();
        co_return;
      }
      if (target == "/echo") {
        response.set("x-method", std::string(request.method_string()));
        for (const auto& field : request) {
          response.insert("x-got-" + AsciiLower(std::string(field.name_string())), field.value());
        }
        response.insert("Set-Cookie", "a=1");
        response.insert("Set-Cookie", "b=2");
        response.body() = request.body();
      } else if (target.starts_with("/status/")) {
        response.result(std::stoi(target.substr(8)));
        response.set("Retry-After", "7");
        response.body() = "status " + target.substr(8);
      } else if (target == "/slow") {
        asio::steady_timer delay(io_, 50ms);
        co_await delay.async_wait(kNoThrow);
        response.body() = "slow";
      } else {
        response.result(beast::http::status::not_found);
      }
      response.keep_alive(request.keep_alive());
      response.prepare_payload();
      auto [write_ec, written] = co_await beast::http::async_write(stream, response, kNoThrow);
      if (write_ec || !response.keep_alive()) co_return;
    }
  }

  asio::io_context io_;
  tcp::acceptor acceptor_;
  asio::ssl::context* tls_;
  std::atomic<int> connections_{0};
  std::thread thread_;
};

// A CONNECT proxy that tunnels to 127.0.0.1 at the requested port and counts
// the tunnels it opened.
class ConnectProxy {
 public:
  ConnectProxy() : acceptor_(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    asio::co_spawn(io_, Accept(), asio::detached);
    thread_ = std::thread([this] { io_.run(); });
  }
  ~ConnectProxy() {
    io_.stop();
    thread_.join();
  }
  ConnectProxy(const ConnectProxy&) = delete;
  ConnectProxy& operator=(const ConnectProxy&) = delete;

  std::string Url() const {
    return "http://127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port());
  }
  int tunnels() const { return tunnels_; }

 private:
  asio::awaitable<void> Accept() {
    for (;;) {
      auto [ec, socket] = co_await acceptor_.async_accept(kNoThrow);
      if (ec) co_return;
      asio::co_spawn(io_, Tunnel(std::move(socket)), asio::detached);
    }
  }

  asio::awaitable<void> Tunnel(tcp::socket client) {
    std::string head;
    auto [ec, n] =
        co_await asio::async_read_until(client, asio::dynamic_buffer(head), "\r\n\r\n", kNoThrow);
    if (ec || !head.starts_with("CONNECT ")) co_return;
    std::string authority = head.substr(8, head.find(' ', 8) - 8);  // host:port
    auto port = static_cast<unsigned short>(std::stoi(authority.substr(authority.rfind(':') + 1)));
    tcp::socket upstream(io_);
    auto [connect_ec] = co_await upstream.async_connect(
        tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), kNoThrow);
    if (connect_ec) co_return;
    ++tunnels_;
    std::string ok = "HTTP/1.1 200 Connection established\r\n\r\n";
    co_await asio::async_write(client, asio::buffer(ok), kNoThrow);
    co_await (Relay(client, upstream) && Relay(upstream, client));
  }

  static asio::awaitable<void> Relay(tcp::socket& from, tcp::socket& to) {
    std::array<char, 8192> data{};
    for (;;) {
      auto [ec, n] = co_await from.async_read_some(asio::buffer(data), kNoThrow);
      if (ec) break;
      auto [write_ec, written] = co_await asio::async_write(to, asio::buffer(data, n), kNoThrow);
      if (write_ec) break;
    }
    boost::system::error_code ignored;
    to.shutdown(tcp::socket::shutdown_send, ignored);
  }

  asio::io_context io_;
  tcp::acceptor acceptor_;
  std::atomic<int> tunnels_{0};
  std::thread thread_;
};

// A CA, a second unrelated CA, and a certificate for localhost/127.0.0.1
// signed by the first, made by the openssl command line.
class TestPki {
 public:
  TestPki() {
    const std::string& d = dir_.path();
    std::string key = " -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    std::string script =
        "set -e; cd " + d + "; exec 2>openssl.log; " + "openssl req -x509" + key +
        " -keyout ca.key -out ca.pem -days 2 -subj /CN=syncd-test-ca;" + "openssl req -x509" + key +
        " -keyout other.key -out other-ca.pem -days 2 -subj /CN=other;" + "openssl req" + key +
        " -keyout server.key -out server.csr -subj /CN=localhost;" +
        "printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > san.ext;" +
        "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial" +
        " -out server.pem -days 2 -extfile san.ext";
    ok_ = !d.empty() && std::system(("bash -c '" + Escape(script) + "'").c_str()) == 0;
  }
  bool ok() const { return ok_; }
  std::string ca() const { return dir_.path() + "/ca.pem"; }
  std::string other_ca() const { return dir_.path() + "/other-ca.pem"; }
  std::unique_ptr<asio::ssl::context> ServerContext() const {
    auto context = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
    context->use_certificate_chain_file(dir_.path() + "/server.pem");
    context->use_private_key_file(dir_.path() + "/server.key", asio::ssl::context::pem);
    return context;
  }

 private:
  static std::string Escape(const std::string& text) {
    std::string out;
    for (char c : text) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out;
  }
  testing::TempDir dir_{"syncd-http-pki"};
  bool ok_ = false;
};

// Every proxy variable libcurl reads, cleared for the test and put back after.
class ProxyEnvironment {
 public:
  ProxyEnvironment() {
    for (const char* name : kNames) {
      saved_.push_back(testing::GetEnv(name));
      unsetenv(name);
    }
  }
  ~ProxyEnvironment() {
    for (size_t i = 0; i < saved_.size(); ++i) testing::RestoreEnv(kNames[i], saved_[i]);
  }
  ProxyEnvironment(const ProxyEnvironment&) = delete;
  ProxyEnvironment& operator=(const ProxyEnvironment&) = delete;

 private:
  static constexpr const char* kNames[] = {"http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY",
                                           "all_proxy",  "ALL_PROXY",  "no_proxy",    "NO_PROXY"};
  std::vector<std::optional<std::string>> saved_;
};

class HttpClientTest : public ::testing::Test {
 protected:
  std::unique_ptr<Client> MakeClient(ClientOptions options = {}) {
    auto client = Client::Create(loop_.get_executor(), std::move(options));
    EXPECT_TRUE(client.ok()) << client.status().ToString();
    return client.ok() ? std::move(client.value()) : nullptr;
  }

  // Sends one request on the test's loop and runs the loop until it is answered.
  Result<Response> Send(Client& client, Request request) {
    Result<Response> result;
    asio::co_spawn(loop_, client.Send(std::move(request)),
                   [&result](const std::exception_ptr& error, Result<Response> r) {
                     result =
                         error ? Result<Response>(Status::Internal("exception")) : std::move(r);
                   });
    loop_.restart();
    loop_.run();
    return result;
  }

  Result<Response> Get(Client& client, const std::string& url,
                       std::chrono::milliseconds timeout = 5s) {
    Request request{.method = "GET", .url = url};
    request.timeout = timeout;
    return Send(client, std::move(request));
  }

  ProxyEnvironment proxy_environment_;
  asio::io_context loop_;
};

TEST_F(HttpClientTest, MethodsRoundTripBodyAndHeaders) {
  TestServer server;
  auto client = MakeClient();
  ASSERT_NE(client, nullptr);
  for (std::string method : {"GET", "POST", "PATCH", "PUT", "DELETE"}) {
    Request request{.method = method, .url = server.Url("/echo")};
    request.headers = {{"Authorization", "Bearer secret-token"},
                       {"Content-Type", "application/scim+json"},
                       {"X-Custom", "v1"}};
    if (method != "GET") request.body = R"({"method":")" + method + R"("})";
    Result<Response> response = Send(*client, request);
    ASSERT_TRUE(response.ok()) << method << ": " << response.status().ToString();
    EXPECT_EQ(response->status, 200) << method;
    EXPECT_EQ(response->HeaderValue("x-method"), method);
    EXPECT_EQ(response->HeaderValue("X-Got-Authorization"), "Bearer secret-token") << method;
    EXPECT_EQ(response->HeaderValue("x-got-content-type"), "application/scim+json") << method;
    EXPECT_EQ(response->HeaderValue("x-got-x-custom"), "v1") << method;
    EXPECT_EQ(response->HeaderValue("x-got-user-agent"), DefaultUserAgent());
    EXPECT_EQ(response->body, request.body) << method;
    // Names lower-cased, repeated headers kept in arrival order.
    std::vector<std::string> cookies;
    for (const Header& header : response->headers) {
      EXPECT_EQ(header.name, AsciiLower(header.name));
      if (header.name == "set-cookie") cookies.push_back(header.value);
    }
    EXPECT_EQ(cookies, (std::vector<std::string>{"a=1", "b=2"}));
    EXPECT_EQ(response->HeaderValue("set-cookie"), "a=1");
    EXPECT_EQ(response->HeaderValue("x-absent"), std::nullopt);
  }
}

TEST_F(HttpClientTest, LargeBodyWithoutContentTypeIsSentAsIsAndAtOnce) {
  TestServer server;
  auto client = MakeClient();
  ASSERT_NE(client, nullptr);
  Request request{.method = "POST", .url = server.Url("/echo"), .body = std::string(3 << 20, 'x')};
  auto started = std::chrono::steady_clock::now();
  Result<Response> response = Send(*client, request);
  ASSERT_TRUE(response.ok()) << response.status().ToString();
  EXPECT_EQ(response->body.size(), request.body.size());
  // No form content type invented, no "Expect: 100-continue" wait.
  EXPECT_EQ(response->HeaderValue("x-got-content-type"), std::nullopt);
  EXPECT_EQ(response->HeaderValue("x-got-expect"), std::nullopt);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 900ms);
}

TEST_F(HttpClientTest, ErrorStatusesAreResponses) {
  TestServer server;
  auto client = MakeClient();
  ASSERT_NE(client, nullptr);
  for (int status : {400, 404, 409, 429, 500, 503}) {
    Result<Response> response = Get(*client, server.Url("/status/" + std::to_string(status)));
    ASSERT_TRUE(response.ok()) << status << ": " << response.status().ToString();
    EXPECT_EQ(response->status, status);
    EXPECT_EQ(response->body, "status " + std::to_string(status));
    EXPECT_EQ(response->RetryAfter(), std::chrono::milliseconds(7000));
  }
}

TEST(HttpResponseTest, RetryAfterSecondsAndHttpDates) {
  // Sun, 06 Nov 1994 08:49:37 GMT, RFC 9110's example date.
  auto now = std::chrono::system_clock::from_time_t(784111777);
  auto retry_after = [now](const std::string& value) {
    Response response;
    response.headers = {{"content-type", "text/plain"}, {"retry-after", value}};
    return response.RetryAfter(now);
  };
  EXPECT_EQ(retry_after("120"), std::chrono::milliseconds(120000));
  EXPECT_EQ(retry_after(" 0 "), std::chrono::milliseconds(0));
  EXPECT_EQ(retry_after("Sun, 06 Nov 1994 08:50:37 GMT"), std::chrono::milliseconds(60000));
  EXPECT_EQ(retry_after("Sunday, 06-Nov-94 08:50:37 GMT"), std::chrono::milliseconds(60000));
  EXPECT_EQ(retry_after("Sun Nov  6 08:50:37 1994"), std::chrono::milliseconds(60000));
  EXPECT_EQ(retry_after("Sun, 06 Nov 1994 08:00:00 GMT"), std::chrono::milliseconds(0));
  EXPECT_EQ(retry_after("soon"), std::nullopt);
  EXPECT_EQ(retry_after(""), std::nullopt);
  EXPECT_EQ(retry_after("99999999999999999999999"), std::nullopt);
  EXPECT_EQ(Response{}.RetryAfter(now), std::nullopt);
}

TEST_F(HttpClientTest, FiftyConcurrentRequestsShareAFewConnections) {
  TestServer server;
  auto client = MakeClient();
  ASSERT_NE(client, nullptr);
  constexpr int kRequests = 50;
  std::vector<Result<Response>> results(kRequests);
  int done = 0;
  for (int i = 0; i < kRequests; ++i) {
    Request request{.method = "POST", .url = server.Url("/echo"), .body = std::to_string(i)};
    asio::co_spawn(loop_, client->Send(std::move(request)),
                   [&results, &done, i](const std::exception_ptr&, Result<Response> r) {
                     results[i] = std::move(r);
                     ++done;
                   });
  }
  loop_.run();
  EXPECT_EQ(done, kRequests);
  for (int i = 0; i < kRequests; ++i) {
    ASSERT_TRUE(results[i].ok()) << i << ": " << results[i].status().ToString();
    EXPECT_EQ(results[i]->body, std::to_string(i));
  }
  EXPECT_GE(server.connections(), 1);
  EXPECT_LE(server.connections(), 4);  // ClientOptions::max_connections
}

TEST_F(HttpClientTest, SequentialRequestsReuseOneConnection) {
  TestServer server;
  auto client = MakeClient();
  ASSERT_NE(client, nullptr);
  for (int i = 0; i < 10; ++i) {
    Result<Response> response = Get(*client, server.Url(i % 2 == 0 ? "/echo" : "/slow"));
    ASSERT_TRUE(response.ok()) << response.status().ToString();
  }
  EXPECT_EQ(server.connections(), 1);
}

TEST_F(HttpClientTest, ConnectRefusedIsUnavailable) {
  unsigned short closed_port = 0;
  {
    asio::io_context io;
    tcp::acceptor probe(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    closed_port = probe.local_endpoint().port();
  }
  auto client = MakeClient();
  ASSERT_NE(client, nullptr);
  Result<Response> response =
      Get(*client, "http://127.0.0.1:" + std::to_string(closed_port) + "/x");
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), Status::Code::kUnavailable);
  EXPECT_NE(response.status().message().find(std::to_string(closed_port)), std::string::npos)
      << response.status().message();
}

TEST_F(HttpClientTest, ServerThatNeverAnswersTimesOut) {
  TestServer server;
  auto client = MakeClient();
  ASSERT_NE(client, nullptr);
  auto started = std::chrono::steady_clock::now();
  Result<Response> response = Get(*client, server.Url("/hang"), 300ms);
  auto elapsed = std::chrono::steady_clock::now() - started;
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), Status::Code::kUnavailable);
  EXPECT_NE(response.status().message().find("timed out after 300 ms"), std::string::npos)
      << response.status().message();
  EXPECT_GE(elapsed, 290ms);
  EXPECT_LT(elapsed, 3s);
}

TEST_F(HttpClientTest, ServerThatClosesMidAnswerIsUnavailable) {
  TestServer server;
  auto client = MakeClient();
  ASSERT_NE(client, nullptr);
  Result<Response> response = Get(*client, server.Url("/truncate"));
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), Status::Code::kUnavailable) << response.status().ToString();
  EXPECT_NE(response.status().message().find("/truncate"), std::string::npos);
}

TEST_F(HttpClientTest, BadRequestsAreInvalidArgument) {
  auto client = MakeClient();
  ASSERT_NE(client, nullptr);
  for (const char* url : {"not a url", "/relative/path", "ftp://127.0.0.1/file", ""}) {
    Result<Response> response = Get(*client, url);
    ASSERT_FALSE(response.ok()) << url;
    EXPECT_EQ(response.status().code(), Status::Code::kInvalidArgument)
        << url << ": " << response.status().ToString();
  }
  Result<Response> ftp = Get(*client, "ftp://127.0.0.1/file");
  EXPECT_NE(ftp.status().message().find("unsupported URL scheme 'ftp'"), std::string::npos)
      << ftp.status().message();

  Request injected{.method = "GET", .url = "http://127.0.0.1:1/"};
  injected.headers = {{"Authorization", "Bearer x\r\nX-Evil: 1"}};
  Result<Response> response = Send(*client, injected);
  EXPECT_EQ(response.status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(response.status().message().find("Bearer"), std::string::npos)
      << "header values may be secrets: " << response.status().message();
  Request bad_method{.method = "GE T", .url = "http://127.0.0.1:1/"};
  EXPECT_EQ(Send(*client, bad_method).status().code(), Status::Code::kInvalidArgument);
}

TEST_F(HttpClientTest, UnreadableCaFileIsRefusedAtCreate) {
  ClientOptions options;
  options.ca_file = "/nonexistent/ca.pem";
  auto client = Client::Create(loop_.get_executor(), options);
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(client.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(client.status().message().find("/nonexistent/ca.pem"), std::string::npos);
}

class HttpsClientTest : public HttpClientTest {
 protected:
  void SetUp() override {
    ASSERT_TRUE(pki_.ok()) << "openssl could not make the test certificates";
    tls_ = pki_.ServerContext();
    server_ = std::make_unique<TestServer>(tls_.get());
  }
  TestPki pki_;
  std::unique_ptr<asio::ssl::context> tls_;
  std::unique_ptr<TestServer> server_;
};

TEST_F(HttpsClientTest, RightCaVerifies) {
  ClientOptions options;
  options.ca_file = pki_.ca();
  auto client = MakeClient(options);
  ASSERT_NE(client, nullptr);
  Result<Response> response = Get(*client, server_->Url("/echo", "localhost"));
  ASSERT_TRUE(response.ok()) << response.status().ToString();
  EXPECT_EQ(response->status, 200);
  response = Get(*client, server_->Url("/echo", "127.0.0.1"));  // the IP SAN
  ASSERT_TRUE(response.ok()) << response.status().ToString();
}

TEST_F(HttpsClientTest, WrongCaIsPermissionDeniedNamingTheHost) {
  for (const std::string& ca_file : {pki_.other_ca(), std::string()}) {  // "" = system store
    ClientOptions options;
    options.ca_file = ca_file;
    auto client = MakeClient(options);
    ASSERT_NE(client, nullptr);
    Result<Response> response = Get(*client, server_->Url("/echo", "localhost"));
    ASSERT_FALSE(response.ok()) << ca_file;
    EXPECT_EQ(response.status().code(), Status::Code::kPermissionDenied)
        << response.status().ToString();
    const std::string& message = response.status().message();
    EXPECT_NE(message.find("host localhost"), std::string::npos) << message;
    EXPECT_NE(message.find("certificate"), std::string::npos) << message;
    EXPECT_NE(message.find("tls_ca_file"), std::string::npos) << message;
  }
}

TEST_F(HttpsClientTest, VerifyTlsOffAcceptsAnUnknownCa) {
  ClientOptions options;
  options.ca_file = pki_.other_ca();
  options.verify_tls = false;
  auto client = MakeClient(options);
  ASSERT_NE(client, nullptr);
  Result<Response> response = Get(*client, server_->Url("/echo", "localhost"));
  ASSERT_TRUE(response.ok()) << response.status().ToString();
  EXPECT_EQ(response->status, 200);
}

TEST_F(HttpsClientTest, HttpsProxyFromTheEnvironmentAndNoProxy) {
  ConnectProxy proxy;
  ClientOptions options;
  options.ca_file = pki_.ca();
  std::string url = server_->Url("/echo", "localhost");

  setenv("https_proxy", proxy.Url().c_str(), 1);
  {
    auto client = MakeClient(options);
    ASSERT_NE(client, nullptr);
    Result<Response> response = Get(*client, url);
    ASSERT_TRUE(response.ok()) << response.status().ToString();
    EXPECT_EQ(proxy.tunnels(), 1);
  }
  unsetenv("https_proxy");
  setenv("HTTPS_PROXY", proxy.Url().c_str(), 1);  // upper case works for https too
  {
    auto client = MakeClient(options);
    ASSERT_NE(client, nullptr);
    ASSERT_TRUE(Get(*client, url).ok());
    EXPECT_EQ(proxy.tunnels(), 2);
  }
  setenv("NO_PROXY", "localhost", 1);
  {
    auto client = MakeClient(options);
    ASSERT_NE(client, nullptr);
    ASSERT_TRUE(Get(*client, url).ok());
    EXPECT_EQ(proxy.tunnels(), 2);  // bypassed
  }
  unsetenv("NO_PROXY");
  {
    // HTTPS_PROXY is for https:// URLs only.
    TestServer plain;
    auto client = MakeClient(options);
    ASSERT_NE(client, nullptr);
    ASSERT_TRUE(Get(*client, plain.Url("/echo")).ok());
    EXPECT_EQ(proxy.tunnels(), 2);
    EXPECT_EQ(plain.connections(), 1);
  }
  unsetenv("HTTPS_PROXY");
}

TEST_F(HttpsClientTest, ProxyFromOptionsOverridesTheEnvironment) {
  ConnectProxy proxy;
  ClientOptions options;
  options.ca_file = pki_.ca();
  options.proxy = proxy.Url();
  auto client = MakeClient(options);
  ASSERT_NE(client, nullptr);
  Result<Response> response = Get(*client, server_->Url("/echo", "localhost"));
  ASSERT_TRUE(response.ok()) << response.status().ToString();
  EXPECT_EQ(proxy.tunnels(), 1);
  // The proxy's own "200 Connection established" is not among the headers.
  EXPECT_EQ(response->HeaderValue("x-method"), "GET");
  EXPECT_EQ(response->status, 200);
}

TEST_F(HttpClientTest, CancellationAbortsPromptlyAndTheClientStaysUsable) {
  TestServer server;
  auto client = MakeClient();
  ASSERT_NE(client, nullptr);

  asio::cancellation_signal cancel;
  Result<Response> result;
  bool finished = false;
  auto started = std::chrono::steady_clock::now();
  asio::co_spawn(loop_, client->Send({.method = "GET", .url = server.Url("/hang")}),
                 asio::bind_cancellation_slot(cancel.slot(),
                                              [&](const std::exception_ptr&, Result<Response> r) {
                                                result = std::move(r);
                                                finished = true;
                                              }));
  asio::steady_timer timer(loop_, 100ms);
  timer.async_wait(
      [&](boost::system::error_code) { cancel.emit(asio::cancellation_type::terminal); });
  loop_.run();
  ASSERT_TRUE(finished);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 2s);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), Status::Code::kUnavailable);
  EXPECT_NE(result.status().message().find("cancelled"), std::string::npos)
      << result.status().message();

  // A timer racing the request in a parallel group cancels it the same way.
  started = std::chrono::steady_clock::now();
  auto raced = [&client, &server]() -> asio::awaitable<size_t> {
    asio::steady_timer deadline(co_await asio::this_coro::executor, 100ms);
    Request hang{.method = "GET", .url = server.Url("/hang")};  // named: see Client::Send
    auto winner =
        co_await (client->Send(std::move(hang)) || deadline.async_wait(asio::use_awaitable));
    co_return winner.index();
  };
  std::optional<size_t> winner;
  asio::co_spawn(loop_, raced(),
                 [&winner](const std::exception_ptr&, size_t index) { winner = index; });
  loop_.restart();
  loop_.run();
  EXPECT_EQ(winner, 1U);  // the timer
  EXPECT_LT(std::chrono::steady_clock::now() - started, 2s);

  Result<Response> after = Get(*client, server.Url("/echo"));
  ASSERT_TRUE(after.ok()) << after.status().ToString();
  EXPECT_EQ(after->status, 200);
}

TEST_F(HttpClientTest, DestroyingTheClientCompletesRequestsInFlight) {
  TestServer server;
  auto client = MakeClient();
  ASSERT_NE(client, nullptr);
  std::vector<Result<Response>> results;
  // Five hanging behind one quick answer: with 4 connections per host, three
  // wait on their connections, one reuses /echo's and one is still queued.
  for (const char* path : {"/echo", "/hang", "/hang", "/hang", "/hang", "/hang"}) {
    asio::co_spawn(loop_, client->Send({.method = "GET", .url = server.Url(path)}),
                   [&results](const std::exception_ptr&, Result<Response> r) {
                     results.push_back(std::move(r));
                   });
  }
  loop_.run_for(300ms);
  ASSERT_EQ(results.size(), 1U);
  EXPECT_TRUE(results[0].ok()) << results[0].status().ToString();
  // Made before, awaited after the client is gone.
  asio::awaitable<Result<Response>> late =
      client->Send({.method = "GET", .url = server.Url("/echo")});
  client.reset();
  asio::co_spawn(loop_, std::move(late), [&results](const std::exception_ptr&, Result<Response> r) {
    results.push_back(std::move(r));
  });
  loop_.restart();
  loop_.run();
  ASSERT_EQ(results.size(), 7U);
  for (size_t i = 1; i < results.size(); ++i) {
    ASSERT_FALSE(results[i].ok());
    EXPECT_EQ(results[i].status().code(), Status::Code::kUnavailable);
    EXPECT_NE(results[i].status().message().find("destroyed"), std::string::npos);
  }
}

}  // namespace
}  // namespace syncd::http
