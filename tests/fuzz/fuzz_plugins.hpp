#pragma once
// What every host fuzz target shares: a Registry with the fixture plugins loaded, the
// EventHub that fans out their instance-wide events, and a small thread pool.
#include <boost/asio/thread_pool.hpp>

#include "loader/registry.hpp"
#include "server/event_hub.hpp"

namespace keyhold::fuzz {

struct FuzzFixture {
  Registry registry;
  EventHub hub{registry};
  boost::asio::thread_pool pool{2};
};

// Loads, once, the echo plugin (tools echo_echo, echo_add, echo_slow; a resource, a prompt
// with completion) and the conformance fixture (unprefixed test_* tools, resources,
// templates, prompts; sampling and elicitation). They are found as "<name>.so" in
// $KEYHOLD_PLUGIN_PATH, else in ../plugins next to the fuzzer binary (the build tree).
// Exits the process with a message when one does not load: a fuzzer without its plugins
// would silently test much less. The fixture lives until the process exits.
FuzzFixture& fuzz_fixture();

// Turns the host's stderr logging off: the fuzzers send millions of bad messages.
void silence_host_logging();

}  // namespace keyhold::fuzz
