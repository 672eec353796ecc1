// The sink conformance suite: one GoogleTest suite that every sink passes,
// pinning the contract of store/sink.h (idempotent create, adoption after a
// crash, delete of an absent object, ownership, member chunking, ReadOwned
// reflecting what was applied). A sink joins by adding a SinkFactory to the
// instantiation in sink_conformance.cc.
#ifndef SYNCD_TESTS_UNIT_SINK_CONFORMANCE_H_
#define SYNCD_TESTS_UNIT_SINK_CONFORMANCE_H_

#include <boost/asio/any_io_executor.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "core/model.h"
#include "store/sink.h"

namespace syncd::testing {

// One empty store of some kind, and what the suite needs to look into it
// behind the sink's back.
class SinkUnderTest {
 public:
  virtual ~SinkUnderTest() = default;
  // A new sink over the same store, as a restarted syncd opens it.
  virtual std::unique_ptr<Sink> Open(boost::asio::any_io_executor executor) = 0;
  // Puts a user syncd does not own into the store, named `name`, where a
  // sink would look for syncd's object with externalId `external_id`.
  // Returns the store's reference for it ("" when the store has none).
  virtual std::string AddForeignUser(const std::string& name, const std::string& external_id) = 0;
  // The foreign user's attributes as the store holds them now.
  virtual Attributes ForeignUser(const std::string& ref, const std::string& external_id) = 0;
  // How many users named `name` the store holds, syncd's or not.
  virtual int UsersNamed(const std::string& name) = 0;
  // Membership write requests the store has received; nullopt when the
  // store cannot count them.
  virtual std::optional<int64_t> MembershipRequests() = 0;
};

struct SinkFactory {
  std::string name;  // the test name suffix: "local", "scim_rfc", ...
  std::function<std::unique_ptr<SinkUnderTest>()> make;
};

}  // namespace syncd::testing

#endif  // SYNCD_TESTS_UNIT_SINK_CONFORMANCE_H_
