// Helpers shared by the unit tests.
#ifndef SYNCD_TESTS_UNIT_TEST_UTIL_H_
#define SYNCD_TESTS_UNIT_TEST_UTIL_H_

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

namespace syncd::testing {

// Runs a coroutine to completion on a private io_context.
template <typename T>
T RunAwaitable(boost::asio::awaitable<T> awaitable) {
  boost::asio::io_context loop;
  auto future = boost::asio::co_spawn(loop, std::move(awaitable), boost::asio::use_future);
  loop.run();
  return future.get();
}

inline std::string ReadTestData(const std::string& name) {
  const char* root = std::getenv("SYNCD_SOURCE_DIR");
  std::ifstream in(std::string(root ? root : ".") + "/tests/data/" + name);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace syncd::testing

#endif  // SYNCD_TESTS_UNIT_TEST_UTIL_H_
